"""One load level against one target: a `turnbench run` in its own run directory, watched as it goes.

Each level is an ordinary run (so it can be read, re-analysed and costed like any other), started
after the target's prefix cache was flushed. While it runs, its requests.csv is read every few
seconds; once so many turns of the measured window have missed a bound that the SLO cannot hold
however the rest go, the level is stopped: a clearly failing level costs seconds, not minutes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.targets import Target
from harness.recording.run_dir import REQUESTS_CSV, RUN_JSON
from harness.slo import Slo

WATCH_INTERVAL_S = 2.0  # the recorder flushes requests.csv every 2 s (harness.recording.turn_rows)
GENTLE_STOP_S = 15.0  # after the first signal: in-flight turns end, then the second signal cuts the rest
# The watcher's upper bound on the turns a window will hold: its expected count times this, plus
# TURN_SLACK, so that "the SLO cannot hold" stays true even if the arrivals ran a Poisson high.
TURN_MARGIN = 1.3
TURN_SLACK = 10
P95_SHARE = 0.05  # a p95 bound fails once more than 5% of the window's turns are above it
# A level's measured window holds at least this many turns (it grows at low rates): its p95 then rests on
# its 5 slowest turns, not on one or two, so one stray turn does not decide the level.
MIN_WINDOW_TURNS = 100
SPARE_LINES = 10  # lines on top of the conversations in progress and their Poisson spread (3 sd)


@dataclass(frozen=True)
class Load:
    """What a level offers: conversations arriving per hour (open loop), or closed-loop users."""

    conversations_per_hour: float | None = None
    users: int | None = None

    def window_s(self, settings: LevelSettings) -> float:
        """The measured window: the level time, longer when the rate is too low to fill it with MIN_WINDOW_TURNS."""
        if self.conversations_per_hour is None or self.conversations_per_hour <= 0:
            return settings.window_s
        turns_per_s = self.conversations_per_hour / 3600.0 * settings.turns_per_conversation
        return max(settings.window_s, MIN_WINDOW_TURNS / turns_per_s)

    def describe(self) -> str:
        if self.conversations_per_hour is not None:
            return f"{self.conversations_per_hour:,.0f} conversations/hour"
        return f"{self.users} users"


@dataclass(frozen=True)
class LevelSettings:
    scenario: str
    think_time_scale: float
    warmup_s: float
    window_s: float
    slo: Slo
    turns_per_conversation: float  # the scenario's mean, for the watcher's bound
    slowest_conversation_s: float  # every turn at the SLO's bounds: the lines a rate needs are sized on it
    stop_timeout_s: float = 60.0
    processes: str = ""  # passed to `turnbench run --processes` when set
    locust_args: tuple[str, ...] = ()  # after --, e.g. ("--max-tokens", "64")


@dataclass(frozen=True)
class LevelRun:
    run_dir: Path
    load: Load
    pod_seconds: float  # the target's time this level took: start-up, warm-up, window, drain, flush
    stopped_early: str  # why the watcher stopped it; "" when it ran its course
    cache_flushed: bool | None
    exit_code: int


LIVE: set[subprocess.Popen[bytes]] = set()  # levels running now: an interrupted compare stops them all


def stop_all() -> None:
    """Stop every level still running (compare was interrupted): each ends its turns and records first."""
    for process in list(LIVE):
        if process.poll() is None:
            _stop(process)


class LevelError(Exception):
    """The level could not run at all (turnbench run made no run directory)."""


def run_level(target: Target, load: Load, settings: LevelSettings, out: Path, flushed: bool | None,
              began: float, log_path: Path, cache_salt: str = "") -> LevelRun:  # fmt: skip
    """Run one level into a new run directory under `out`; `began` is when the flush before it started;
    `cache_salt`, when given, is the level's Locust --cache-salt (harness.scenario.salt)."""
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.iterdir())
    command = level_command(target, load, settings, out, cache_salt)
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        LIVE.add(process)
        try:
            stopped = _watch(process, out, before, load, settings)
        finally:
            if process.poll() is None:  # an exception here (Ctrl-C): the level must not outlive compare
                _stop(process)
            LIVE.discard(process)
    created = sorted(p for p in set(out.iterdir()) - before if p.is_dir())
    if not created:
        raise LevelError(f"the run against {target.name} at {load.describe()} failed (exit code {process.returncode}; "
                         f"Locust's output: {log_path})")  # fmt: skip
    return LevelRun(created[-1], load, time.time() - began, stopped, flushed, process.returncode)


def level_command(target: Target, load: Load, settings: LevelSettings, out: Path, cache_salt: str = "") -> list[str]:
    seconds = settings.warmup_s + load.window_s(settings)
    command = [
        sys.executable, "-m", "turnbench", "run", "--host", target.base_url, "--scenario", settings.scenario,
        "-t", f"{math.ceil(seconds)}s", "--out", str(out), "--target-name", target.name, "--engine", target.engine,
        "--think-time-scale", f"{settings.think_time_scale:g}", "--max-failure-rate", "1",
        "--stop-timeout", f"{settings.stop_timeout_s:g}",
    ]  # fmt: skip
    if load.conversations_per_hour is not None:
        command += ["--arrival-rate", f"{load.conversations_per_hour:.6g}/h", "--warmup", f"{settings.warmup_s:g}s",
                    "-u", str(lines_for(load.conversations_per_hour, settings.slowest_conversation_s))]  # fmt: skip
    else:
        command += ["-u", str(load.users), "-r", str(load.users), "--warmup", f"{settings.warmup_s:g}s"]
    if target.model:
        command += ["--model", target.model]
    if target.api_key_env:
        command += ["--api-key-env", target.api_key_env]
    if target.usd_per_hour:
        command += ["--price-usd-per-hour", f"{target.usd_per_hour:g}"]
    if settings.processes:
        command += ["--processes", settings.processes]
    locust_args = [*settings.locust_args, *(("--cache-salt", cache_salt) if cache_salt else ())]
    if locust_args:
        command += ["--", *locust_args]
    return command


def lines_for(per_hour: float, slowest_conversation_s: float) -> int:
    """Lines for an arrival rate: enough for the conversations in progress when every turn is as slow as the SLO
    allows. An engine within the SLO never runs out of them, so a level can fail on the engine, not on the
    load generator's sizing; an engine beyond it starts conversations late, which fails the level anyway."""
    in_progress = per_hour / 3600.0 * slowest_conversation_s
    return math.ceil(in_progress + 3.0 * math.sqrt(in_progress) + SPARE_LINES)


def _watch(process: subprocess.Popen[bytes], out: Path, before: set[Path], load: Load,
           settings: LevelSettings) -> str:  # fmt: skip
    """Wait for the level to end; stop it once it has clearly failed, and say why."""
    tail: _Tail | None = None
    while process.poll() is None:
        time.sleep(WATCH_INTERVAL_S)
        if tail is None:
            created = [p for p in set(out.iterdir()) - before if (p / RUN_JSON).exists()]
            if not created:
                continue
            tail = _Tail(created[0], settings.warmup_s, settings.slo)
        why = tail.clearly_failed(load, settings)
        if why:
            _stop(process)
            return why
    return ""


def _stop(process: subprocess.Popen[bytes]) -> None:
    """The first signal lets turns in flight end and records arrive; the second ends it (turnbench run)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=GENTLE_STOP_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        process.wait()


class _Tail:
    """Reads the rows a running level has written so far, from where it stopped last time."""

    def __init__(self, run_dir: Path, warmup_s: float, slo: Slo) -> None:
        self.run_dir = run_dir
        self.bounds = slo.bounds
        started = json.loads((run_dir / RUN_JSON).read_text()).get("started_at") or time.time()
        self.window_start = float(started) + warmup_s
        self.offset = 0
        self.header: list[str] | None = None
        self.turns = 0
        self.failed = 0
        self.lagged = 0  # successful turns the load generator could not vouch for (its event loop stalled)
        self.above = {"ttft_p95_ms": 0, "tpot_p95_ms": 0, "e2e_p95_ms": 0}
        self.slower = dict.fromkeys(self.above, 0)

    def clearly_failed(self, load: Load, settings: LevelSettings) -> str:
        self._read()
        if load.conversations_per_hour is None:
            return ""  # closed loop: the turn count has no expectation to bound it
        expected = load.conversations_per_hour / 3600.0 * load.window_s(settings) * settings.turns_per_conversation
        most = expected * TURN_MARGIN + TURN_SLACK
        bounds = self.bounds
        if "failure_rate" in bounds and self.failed > bounds["failure_rate"] * most:
            return f"stopped early: {self.failed} of at most {most:.0f} turns failed, above the failure bound"
        for key, count in self.above.items():
            if key in bounds and count > P95_SHARE * most:
                name = key.split("_")[0].upper()
                kinds = f"{self.failed} failed, {self.lagged} lagged, {self.slower[key]} slower"
                return (f"stopped early: {count} turns missed the {name} bound ({kinds}), more than 5% of the at "
                        f"most {most:.0f} the window holds")  # fmt: skip
        return ""

    def _read(self) -> None:
        path = self.run_dir / REQUESTS_CSV
        if not path.exists():
            return
        with path.open("rb") as file:
            file.seek(self.offset)
            data = file.read()
        complete = data[: data.rfind(b"\n") + 1]  # a row still being written waits for the next read
        self.offset += len(complete)
        rows = list(csv.reader(io.StringIO(complete.decode("utf-8", errors="replace"))))
        if self.header is None and rows:
            self.header, rows = rows[0], rows[1:]
        for row in rows:
            if self.header is not None and len(row) == len(self.header):
                self._count(dict(zip(self.header, row, strict=True)))

    def _count(self, row: dict[str, Any]) -> None:
        try:
            if float(row["started_at"]) < self.window_start:
                return
        except (TypeError, ValueError):
            return
        self.turns += 1
        failed = row.get("ok") != "True"
        lagged = not failed and row.get("lagged") == "True"
        self.failed += failed
        self.lagged += lagged
        for key, column in (("ttft_p95_ms", "ttft_ms"), ("tpot_p95_ms", "tpot_ms"), ("e2e_p95_ms", "e2e_ms")):
            slower = not (failed or lagged) and _above(row.get(column), self.bounds.get(key, math.inf))
            self.slower[key] += slower
            self.above[key] += failed or lagged or slower


def _above(value: object, bound: float) -> bool:
    try:
        return float(str(value)) > bound
    except ValueError:
        return False
