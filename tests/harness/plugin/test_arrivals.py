"""Open-loop arrivals (harness/plugin/arrivals.py): conversations start at the rate asked for, in every mode.

The schedule on its own first, then whole `turnbench run`s against the ground-truth server: the
number of conversations started is Poisson around rate x duration (the tolerance is 4 standard
deviations, so a run cannot fail by chance, yet half or twice the rate is caught), with one process
or two, and too few lines show as late starts in requests.csv, run.json and the summary line.
"""

from __future__ import annotations

import itertools
import json
import math
import signal
import socket
import statistics
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.bench.groundtruth.process import GroundTruth, running_groundtruth
from harness.plugin.arrivals import ArrivalSchedule, summed
from harness.recording.run_dir import LATE_START_S
from tests.harness.run.commands import ROOT, only_run, rows, turnbench, wait_for

PER_SECOND = 4.0  # arrivals per second in the runs: 80 expected in RUN_S, sd 9
RUN_S = 20
# Short conversations (about 2 s: four turns of 16 tokens, 0.4 s thinking) so the runs stay short.
SHORT = ["--think-time-scale", "0.05", "--", "--max-tokens", "16"]


def within_poisson(count: int, expected: float) -> bool:
    return abs(count - expected) <= 4 * math.sqrt(expected)


def test_the_schedule_is_poisson_at_its_rate_and_the_same_for_the_same_seed() -> None:
    schedule = ArrivalSchedule(3600.0, seed=1, worker_index=0, start=1000.0)
    times = [schedule.claim() for _ in range(4000)]
    gaps = [b - a for a, b in itertools.pairwise([1000.0, *times])]
    assert times == sorted(times) and times[0] > 1000.0
    assert abs(statistics.mean(gaps) - 1.0) < 0.07  # 1/s, within 4 sd of the mean of 4,000 gaps
    assert abs(statistics.stdev(gaps) - 1.0) < 0.1  # exponential gaps: sd = mean (not a fixed pace)
    again = ArrivalSchedule(3600.0, seed=1, worker_index=0, start=1000.0)
    assert [again.claim() for _ in range(10)] == times[:10]
    other = ArrivalSchedule(3600.0, seed=1, worker_index=1, start=1000.0)
    assert [other.claim() for _ in range(10)] != times[:10]  # each process draws its own arrivals


def test_due_counts_arrivals_no_line_took_and_late_starts_are_counted() -> None:
    schedule = ArrivalSchedule(36000.0, seed=3, worker_index=0, start=0.0)  # 10/s
    assert schedule.counts(until=100.0)["due"] == 0  # no lines: this process offers nothing
    schedule.lines = 1
    first = schedule.claim()
    schedule.began(first, first + 0.001)
    second = schedule.claim()
    schedule.began(second, second + LATE_START_S + 0.5)
    counts = schedule.counts(until=100.0)
    assert within_poisson(counts["due"], 1000) and counts["started"] == 2 and counts["late"] == 1
    assert schedule.due(until=second) == 2
    schedule.stop(at=50.0)  # the test stopped: what would have come later was never offered
    assert schedule.counts(until=100.0)["due"] == schedule.due(until=50.0) < counts["due"]
    assert summed([counts, counts]) == {"due": 2 * counts["due"], "started": 4, "late": 2, "lines": 2}


@pytest.fixture(scope="module")
def server() -> Iterator[GroundTruth]:
    with running_groundtruth("--ttft-ms", "20", "--itl-ms", "2") as truth:
        yield truth


def run(server: GroundTruth, out: Path, *args: str) -> tuple[str, dict[str, Any], list[dict[str, str]]]:
    result = turnbench(
        "run", "--host", server.url, "--model", "groundtruth", "--scenario", "support", "--out", str(out), *args,
        timeout=120,
    )  # fmt: skip
    assert result.returncode in (0, 4), result.stdout + result.stderr[-2000:]
    run_dir = only_run(out)
    summary = result.stdout.strip().splitlines()[-1]
    return summary, json.loads((run_dir / "run.json").read_text()), rows(run_dir / "requests.csv")


def firsts(requests: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in requests if r["turn"] == "1" and not r["branch_kind"]]


@pytest.mark.parametrize("mode", [[], ["--processes", "2"]], ids=["local", "processes"])
def test_conversations_start_at_the_rate_asked_for_whatever_the_process_count(
    server: GroundTruth, tmp_path: Path, mode: list[str]
) -> None:
    rate = f"{PER_SECOND:g}/s"
    summary, info, requests = run(server, tmp_path, "--arrival-rate", rate, "-t", f"{RUN_S}s", *mode, *SHORT)
    started = firsts(requests)
    arrivals = info["arrivals"]
    # The rate is the total over all processes: two processes do not offer twice as many.
    assert within_poisson(len(started), PER_SECOND * RUN_S), len(started)
    assert arrivals["started"] == len(started) and arrivals["late"] == 0
    assert arrivals["due"] - arrivals["started"] <= 1  # every arrival that came found a free line
    assert info["load"]["kind"] == "arrivals" and info["load"]["conversations_per_hour"] == PER_SECOND * 3600
    assert arrivals["lines"] == info["load"]["users"] == info["locust"]["num_users"]  # turnbench sized the lines
    if mode:
        assert {r["worker"] for r in started} == {"worker-0", "worker-1"}
    # Turn 1 goes out at its arrival, and the arrivals come as a Poisson process would (gaps as
    # irregular as exponential ones: coefficient of variation about 1), not at a fixed pace.
    late = [float(r["start_late_ms"]) for r in started]
    assert max(late) < LATE_START_S * 1000 and statistics.median(late) < 20.0
    assert all(r["start_late_ms"] == "" for r in requests if r not in started)
    times = sorted(float(r["started_at"]) for r in started)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 0.5 < statistics.stdev(gaps) / statistics.mean(gaps) < 1.6
    assert f"arrivals 14,400/h: {len(started)} conversations started" in summary and "late" not in summary
    assert info["reconciliation"]["complete"], info["reconciliation"]["differences"]


def test_too_few_lines_show_as_late_starts_everywhere(server: GroundTruth, tmp_path: Path) -> None:
    # One line, one conversation due a second, each lasting about 3.5 s (four turns after 0.8 s thinking).
    summary, info, requests = run(
        server, tmp_path, "--arrival-rate", "60/min", "-u", "1", "-t", "12s", "--think-time-scale", "0.1",
        "--", "--max-tokens", "16",
    )  # fmt: skip
    arrivals = info["arrivals"]
    late = [r for r in firsts(requests) if float(r["start_late_ms"]) > LATE_START_S * 1000]
    assert arrivals["lines"] == 1 and arrivals["late"] == len(late) > 0
    assert arrivals["due"] > arrivals["started"] == len(firsts(requests))
    assert f"{len(late)} of them late" in summary and "raise -u" in summary
    assert f"{arrivals['due'] - arrivals['started']} due but not started" in summary


def test_closed_loop_users_record_no_arrivals(server: GroundTruth, tmp_path: Path) -> None:
    summary, info, requests = run(server, tmp_path, "-u", "2", "-r", "2", "-t", "4s", "--warmup", "1s", *SHORT)
    assert info["load"] == {
        "kind": "users", "conversations_per_hour": None, "users": 2, "warmup_s": 1.0, "think_time_scale": 0.05,
        "max_tokens": 16, "min_tokens": -1,
    }  # fmt: skip
    assert "arrivals" not in info and "arrivals" not in summary
    assert requests and all(r["start_late_ms"] == "" for r in requests)


class WebUi:
    """Locust's web UI driven as its form does (POST /swarm, /stop), without a browser."""

    def __init__(self, server: GroundTruth, out: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.url = f"http://127.0.0.1:{probe.getsockname()[1]}"
        self.server, self.out = server, out
        self.process = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "any_scenario.py"), "--host", server.url,
             "--model", "groundtruth", "--web-host", "127.0.0.1", "--web-port", self.url.rsplit(":", 1)[1],
             "--turnbench-out", str(out), "--think-time-scale", "0.05", "--max-tokens", "16"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def post(self, path: str, form: dict[str, str]) -> bool:
        request = urllib.request.Request(f"{self.url}{path}", data=urllib.parse.urlencode(form).encode())
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return bool(json.load(response)["success"])
        except OSError:  # not listening yet
            return False

    def test(self, per_hour: float, conversations: int) -> Path:
        """Start a test at `per_hour` from the form, stop it once `conversations` have started."""
        before = set(self.out.iterdir())
        form = {"user_count": "10", "spawn_rate": "10", "host": self.server.url, "arrival_rate": f"{per_hour:g}"}
        wait_for(lambda: self.post("/swarm", form), "the web UI to start a test", timeout=30)
        run_dir = wait_for(lambda: next(iter(set(self.out.iterdir()) - before), None), "its run directory")
        wait_for(lambda: first_turns(run_dir) >= conversations, f"{conversations} conversations")
        assert self.post("/stop", {})
        wait_for(lambda: json.loads((run_dir / "run.json").read_text()).get("arrivals"), "the arrival counts")
        return run_dir

    def quit(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def first_turns(run_dir: Path) -> int:
    requests = run_dir / "requests.csv"
    return len(firsts(rows(requests))) if requests.exists() else 0


def test_each_test_started_from_the_web_ui_gets_a_schedule_of_its_own(server: GroundTruth, tmp_path: Path) -> None:
    web = WebUi(server, tmp_path)
    try:
        runs = {per_hour: web.test(per_hour, conversations=8) for per_hour in (7200.0, 3600.0)}
    finally:
        web.quit()
    for per_hour, run_dir in runs.items():  # the form's rate is read afresh for each test
        info = json.loads((run_dir / "run.json").read_text())
        arrivals = info["arrivals"]
        assert info["load"]["conversations_per_hour"] == per_hour and arrivals["lines"] == 10
        # Counted from this test's own start to its stop, not on into the next test.
        assert arrivals["started"] == first_turns(run_dir) >= 8 and 0 <= arrivals["due"] - arrivals["started"] <= 1
        assert within_poisson(arrivals["due"], per_hour / 3600 * (info["ended_at"] - info["started_at"]))
