"""`turnbench run`: one headless Locust run against one target, into one run directory.

It checks what a user can get wrong before any load starts (the config, the scenario file, the
host, the model name) and answers each in one line; then it runs Locust in its own process group
(Locust owns the gevent patching and, with --processes or --workers, its worker processes). The
first Ctrl-C or SIGTERM asks Locust to stop gracefully: users finish their turn, records are
flushed and run.json says "interrupted"; a second one ends everything at once. Before Locust has
started a test there is nothing to save: a signal ends the command at once (turnbench/cli.py).

Exit codes, for schedulers: 0 every SLO gate passed; 3 a gate failed; 4 the load generator was
saturated, so the numbers cannot be trusted; 1 the run itself failed (Locust failed, too many
turns failed, nothing was measured); 130 interrupted; 2 a usage mistake.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.client.server import ServerError, engine_of, model_cards
from harness.plugin.options import DEFAULTS
from harness.recording.run_dir import LOCUST_PREFIX, new_run_dir
from harness.run.config import AUTO, ConfigError, add_run_options, resolve
from harness.run.outcome import Outcome, judge

if TYPE_CHECKING:
    from harness.run.process_choice import ProcessChoice
    from harness.scenario.scenario import Scenario

# A file Locust loads, not a module turnbench imports (locustfiles/ sits above harness/): it is
# found next to this package, in a checkout and in an installed wheel alike.
LOCUSTFILE = Path(__file__).resolve().parents[2] / "locustfiles" / "any_scenario.py"
# A worker left once the master has gone has nothing to ship (no one would receive it): it gets this
# long to end by itself before it is killed. One the master told to quit is on its way out; one still
# connecting (a signal while Locust started up) would retry for minutes, and one whose master died
# would wait out a 60 s heartbeat timeout.
LEFTOVER_GRACE_S = 5.0


class RunError(Exception):
    """A reason the run cannot start; one line for the user."""


@dataclass(frozen=True)
class Preflight:
    models: list[str]
    engine: str


def preflight(host: str, model: str, api_key_env: str | None) -> Preflight:
    """The host answers and serves the model, or a one-line reason why not."""
    try:
        cards = model_cards(host, api_key_env)
    except ServerError as exc:
        raise RunError(str(exc)) from exc
    models = [str(card.get("id")) for card in cards]
    if model and models and model not in models:
        raise RunError(f"{host} does not serve model {model!r} (it serves: {', '.join(models)})")
    return Preflight(models, engine_of(cards))


def add_run_parser(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser(
        "run",
        help="one headless multi-turn load test against one target, into a run directory",
        description="Run Locust users holding multi-turn conversations against one OpenAI-compatible server. "
        "Exit codes: 0 SLO gates passed, 3 a gate failed, 4 load generator saturated, 1 the run failed.",
    )
    run.add_argument("--config", default=None, help="a run configuration (TOML: [run], [slo], [locust])")
    add_run_options(run)
    run.add_argument("--slo", nargs="+", default=None, metavar="GATE=VALUE",
                     help="e.g. ttft_p95_ms=2000 e2e_p95_ms=30000 failure_rate=0.01 per_turn=true")  # fmt: skip
    run.add_argument("--dry-run", action="store_true", help="print the Locust command, check nothing, run nothing")
    run.add_argument("locust_args", nargs=argparse.REMAINDER, help="after --: passed to Locust as they are")


def parse_timespan(text: str) -> int:
    # Imported here: importing locust monkey-patches the process with gevent, which the
    # command line must not do before it knows the subcommand (the emulator runs asyncio).
    from locust.util.timespan import parse_timespan as parse

    return int(parse(text))


def validate_scenario(name: str, tokenizer: str) -> Scenario:
    from harness.scenario.scenario import ScenarioError, load_scenario
    from harness.scenario.tokenizer import load_tokenizer

    try:
        return load_scenario(name, load_tokenizer(tokenizer or None))
    except ScenarioError as exc:
        raise RunError(str(exc)) from exc


def auto_processes(s: dict[str, Any], scenario: Scenario, locust_args: list[str]) -> ProcessChoice:
    """`--processes auto`: what the expected token rate needs, said on stderr before anything runs."""
    from harness.bench import cpu_per_token as client_cost
    from harness.run.process_choice import choose_processes, expected_token_rate, usable_cores

    max_tokens = _whole_number(locust_value(locust_args, "--max-tokens") or "0", "--max-tokens")
    users = s["users"]
    if s.get("arrival_sizing"):  # lines mostly wait: the conversations in progress stream
        users = max(1, math.ceil(s["arrival_sizing"].concurrency))
    elif s["shape"]:  # the shape sets the users: size for its largest level
        levels = (locust_value(locust_args, "--ramp-users") or DEFAULTS.ramp_users).split(",")
        users = max(_whole_number(level, "--ramp-users") for level in levels if level.strip())
    rate = expected_token_rate(scenario, users, s["think_time_scale"], s["expected_stream_tps"], max_tokens)
    cost = client_cost.load()
    if cost.warning:
        print(f"turnbench run: warning: {cost.warning}", file=sys.stderr)
    choice = choose_processes(rate, cost, usable_cores())
    print(f"turnbench run: --processes auto chose {choice.processes}: {choice.reason}", file=sys.stderr)
    if choice.warning:
        print(f"turnbench run: warning: {choice.warning}", file=sys.stderr)
    return choice


def arrival_lines(s: dict[str, Any], scenario: Scenario, locust_args: list[str]) -> dict[str, Any]:
    """`--arrival-rate`: -u is the number of lines; when not given, sized for the rate (said on stderr).
    Lines idle until their arrival, so unless -r is given they all start within a second: lines
    still to come when conversations arrive would make them start late."""
    from harness.run.line_sizing import size_lines

    if s["shape"]:
        raise RunError("--arrival-rate and --shape do not mix: the arrival rate sets the load (choose one)")
    max_tokens = _whole_number(locust_value(locust_args, "--max-tokens") or "0", "--max-tokens")
    sizing = size_lines(scenario, s["arrival_rate"], s["think_time_scale"], s["expected_stream_tps"], max_tokens)
    given = s.get("given", frozenset())
    s = {**s, "arrival_sizing": sizing}
    said = []
    if "users" not in given:
        s["users"] = sizing.lines
        said.append(sizing.reason)
    elif s["users"] < 1:
        raise RunError(f"-u {s['users']}: --arrival-rate needs at least one line (user) to start conversations")
    if "spawn_rate" not in given:
        s["spawn_rate"] = float(s["users"])
        said.append(f"all started within a second (-r {s['users']})")
    if said:
        print(f"turnbench run: --arrival-rate {s['arrival_rate']:,.6g}/h: {'; '.join(said)}", file=sys.stderr)
    return s


def locust_value(locust_args: Sequence[str], flag: str) -> str | None:
    """The value Locust will see for `flag` among the arguments passed through (the last one wins)."""
    value = None
    for i, arg in enumerate(locust_args):
        if arg == flag and i + 1 < len(locust_args):
            value = locust_args[i + 1]
        elif arg.startswith(f"{flag}="):
            value = arg.partition("=")[2]
    return value


def _whole_number(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise RunError(f"{flag} {text!r}: expected a whole number") from None


def locust_command(s: dict[str, Any], run_dir: Path, engine: str, extra: list[str]) -> list[str]:
    files = str(LOCUSTFILE)
    if s["shape"]:
        files += "," + str(LOCUSTFILE.with_name("shapes.py"))
    command = [
        sys.executable, "-m", "locust", "-f", files, "--headless", "--host", s["host"],
        "--csv", str(run_dir / LOCUST_PREFIX), "--csv-full-history", "--only-summary",
        "--stop-timeout", f"{s['stop_timeout']:g}", "--scenario", s["scenario"], "--turnbench-run-dir", str(run_dir),
        "--think-time-scale", f"{s['think_time_scale']:g}", "--max-failure-rate", f"{s['max_failure_rate']:g}",
        "--price-usd-per-hour", f"{s['price_usd_per_hour']:g}", "--loglevel", "WARNING",
        "--target-name", s["target_name"] or engine or "target",
    ]  # fmt: skip
    if not s["shape"]:
        command += ["-u", str(s["users"]), "-r", f"{s['spawn_rate']:g}",
                    "--turnbench-run-time", str(parse_timespan(s["run_time"]))]  # fmt: skip
    for option in ("model", "tokenizer", "engine", "api_key_env"):
        value = s[option] or (engine if option == "engine" else "")
        if value:
            command += [f"--{option.replace('_', '-')}", value]
    if s.get("arrival_rate"):
        command += ["--arrival-rate", f"{s['arrival_rate']:.10g}"]
    if s.get("warmup"):
        command += ["--warmup", f"{s['warmup']:.10g}"]
    if s["processes"]:
        command += ["--processes", str(s["processes"])]
    if s.get("processes_auto"):
        command += ["--turnbench-processes-auto", s["processes_auto"]]
    return command + s["locust_extra"] + [a for a in extra if a != "--"]


def run(args: argparse.Namespace) -> int:
    _import_locust()
    try:
        s = resolve(args)
        run_s = parse_timespan(s["run_time"])
    except ConfigError as exc:
        raise RunError(str(exc)) from exc
    except ValueError as exc:
        raise RunError(f"run time {s['run_time']!r}: use a duration like 60s, 5m or 1h30m") from exc
    if s["warmup"] and not s["shape"] and s["warmup"] >= run_s:
        raise RunError(f"--warmup {s['warmup']:g}s leaves nothing of the {run_s}s run (-t) to judge")
    if not s["host"]:
        raise RunError("no target: give --host URL (or [run] host in the config, or TURNBENCH_HOST)")
    if s["expected_stream_tps"] <= 0:
        raise RunError(f"--expected-stream-tps {s['expected_stream_tps']:g}: expected tokens per second above 0")
    loaded = None
    if s["arrival_rate"] > 0:
        loaded = validate_scenario(s["scenario"], s["tokenizer"])
        s = arrival_lines(s, loaded, [*s["locust_extra"], *args.locust_args])
    if s["processes"] == AUTO:
        if s["workers"]:
            raise RunError("--processes auto and --workers N do not mix: choose one (auto sizes --processes)")
        loaded = loaded or validate_scenario(s["scenario"], s["tokenizer"])
        choice = auto_processes(s, loaded, [*s["locust_extra"], *args.locust_args])
        # 1 is plain local mode: Locust gets no --processes at all.
        s = {**s, "processes": choice.processes if choice.processes > 1 else 0, "processes_auto": choice.record()}
    if args.dry_run:
        print(" ".join(locust_command(s, Path(s["out"]) / "<run-dir>", s["engine"], args.locust_args)))
        return 0
    if loaded is None:
        validate_scenario(s["scenario"], s["tokenizer"])
    checked = preflight(s["host"], s["model"], s["api_key_env"] or None)
    target = s["target_name"] or checked.engine or "target"
    scenario = Path(s["scenario"]).stem if s["scenario"].endswith((".toml", ".json")) else s["scenario"]
    run_dir = new_run_dir(Path(s["out"]), target, scenario.replace("sharegpt:", "sharegpt-"))
    command = locust_command(s, run_dir, checked.engine, args.locust_args)
    code, interrupted = _run_locust(command, s["workers"])
    outcome: Outcome = judge(run_dir, code, interrupted, s)
    print(outcome.summary_line)
    return outcome.exit_code


def _import_locust() -> None:
    """Import Locust, which monkey-patches this process with gevent, with Ctrl-C and SIGTERM held back
    until it is done: a KeyboardInterrupt half-way through the patching breaks the import system's
    locks ("RuntimeError: cannot release un-acquired lock", or a hang) instead of ending the command."""
    held = {signal.SIGINT, signal.SIGTERM}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        import locust  # noqa: F401
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _run_locust(command: list[str], workers: int) -> tuple[int, bool]:
    """Run Locust (and its workers); forward the first signal, end everything on the second."""
    locust = _LocustProcesses()
    previous = {sig: signal.signal(sig, locust.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _start(locust, command, workers)
        code = locust.wait()
    finally:
        if not locust.signals:  # after one, another must not cut the verdict short
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return code, locust.signals > 0


class _LocustProcesses:
    """The Locust processes of one run, and what a Ctrl-C or SIGTERM does to them at any moment.

    The first signal goes to the master process only (not its group, which holds the workers it
    forked for --processes), and the master stops its workers in order. It is always SIGTERM:
    Locust handles it itself, while SIGINT may have been inherited as ignored (a background job of
    a non-interactive shell) and would then do nothing. A master still starting up has no handler
    yet and dies at once, having measured nothing; its workers are ended after it (`wait`). The
    second signal kills every process group. A signal that comes while they are being started
    applies to each as it starts, and none starts after one.
    """

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.signals = 0
        self._master_asked = False
        self._ended = False

    def on_signal(self, _signum: int, _frame: object) -> None:
        self.signals += 1
        if self._ended or not self.processes:
            return
        self._act()
        if self.signals == 2:
            print("turnbench run: stopped at once; the last seconds of records may be missing", file=sys.stderr)

    def start(self, command: list[str]) -> None:
        # Its own session: a Ctrl-C at the terminal reaches only turnbench, which forwards it once,
        # instead of every process at once (which would cut the graceful stop short).
        if not self.signals:
            self.processes.append(subprocess.Popen(command, start_new_session=True))
            self._act()

    def wait(self) -> int:
        """The master's exit code, once every process has ended (1 if none started)."""
        if not self.processes:
            return 1
        master, *workers = self.processes
        code = master.wait()
        # A master killed by a signal (one still starting up) never told its workers to quit.
        deadline = time.monotonic() + (LEFTOVER_GRACE_S if code >= 0 else 0.0)
        for worker in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=max(0.0, deadline - time.monotonic()))
        self._kill()  # whatever is left, such as the workers of a master that died starting up
        for worker in workers:
            worker.wait()
        self._ended = True
        return code

    def _act(self) -> None:
        master = self.processes[0]
        if self.signals == 1 and not self._master_asked and master.poll() is None:
            self._master_asked = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(master.pid, signal.SIGTERM)
        elif self.signals > 1:
            self._kill()

    def _kill(self) -> None:
        for process in self.processes:
            # The master's group also when it has ended: the workers it forked may have outlived it.
            if process is self.processes[0] or process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)


def _start(locust: _LocustProcesses, command: list[str], workers: int) -> None:
    port = _free_port()
    if not workers:
        if "--processes" in command:  # its forked workers: on a port of their own, not Locust's fixed 5557,
            # so two runs on one machine (two scheduled jobs, a test and a run) do not collide
            command = [*command, "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                       "--master-port", str(port)]  # fmt: skip
        locust.start(command)
        return
    locust.start(
        [*command, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
         "--expect-workers", str(workers), "--expect-workers-max-wait", "60"],
    )  # fmt: skip
    files = command[command.index("-f") + 1]
    worker_command = [sys.executable, "-m", "locust", "-f", files, "--worker", "--master-host", "127.0.0.1",
                      "--master-port", str(port), "--loglevel", "WARNING"]  # fmt: skip
    # No pause for the master to bind its port: a worker's "client_ready" waits in its ZeroMQ
    # queue until the master is there to read it.
    for _ in range(workers):
        locust.start(worker_command)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
