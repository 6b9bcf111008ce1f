"""Scheduled-run verdicts from real runs against the emulator: exit codes, JUnit, history, interrupts."""

from __future__ import annotations

import contextlib
import csv
import json
import random
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.emulator.process import running_emulator
from tests.harness.run import commands
from tests.harness.run.commands import descendants, only_run, truth, turnbench, wait_for

SHORT = ["--scenario", "support", "-u", "4", "-r", "4", "-t", "8s", "--think-time-scale", "0.05"]


def served(url: str, clear: bool = True) -> int:
    """How many answers the emulator has started, by its ground-truth log (cleared unless told not to)."""
    return len(truth(url, clear))


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    with running_emulator("sglang", "--profile", "fast", "--model", "emulated") as url:
        yield url


def test_gates_that_hold_exit_0_with_junit_and_history(emulator: str, tmp_path: Path) -> None:
    slo = ["ttft_p95_ms=5000", "e2e_p95_ms=60000", "failure_rate=0.01", "per_turn=true"]
    result = turnbench("run", "--host", emulator, *SHORT, "--out", str(tmp_path), "--slo", *slo)
    assert result.returncode == 0, result.stdout + result.stderr[-1500:]
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("turnbench run: PASS (exit 0):")
    junit = (only_run(tmp_path) / "junit.xml").read_text()
    assert 'failures="0"' in junit and "ttft_p95_ms (turn 1)" in junit
    (row,) = csv.DictReader((tmp_path / "index.csv").open())
    assert row["exit_code"] == "0" and row["status"] == "complete" and float(row["ttft_p95_ms"]) > 0


def test_a_gate_that_breaks_exits_3(emulator: str, tmp_path: Path) -> None:
    result = turnbench("run", "--host", emulator, *SHORT, "--out", str(tmp_path), "--slo", "ttft_p95_ms=1")
    assert result.returncode == 3, result.stdout + result.stderr[-1500:]
    assert "SLO FAILED" in result.stdout and "ttft_p95_ms (all turns)" in result.stdout
    assert 'failures="1"' in (only_run(tmp_path) / "junit.xml").read_text()


def test_a_load_generator_over_its_lag_limit_exits_4(emulator: str, tmp_path: Path) -> None:
    # No generator sleeps with zero lag: a limit of 0 ms is one it cannot meet.
    result = turnbench("run", "--host", emulator, *SHORT, "--out", str(tmp_path), "--slo", "ttft_p95_ms=1",
                       "--", "--lag-limit-ms", "0")  # fmt: skip
    assert result.returncode == 4, result.stdout + result.stderr[-1500:]
    assert json.loads((only_run(tmp_path) / "run.json").read_text())["load_generator"]["saturated"] is True


def test_a_run_whose_turns_fail_exits_1(tmp_path: Path) -> None:
    with running_emulator("vllm", "--profile", "fast", "--model", "emulated", "--faults", "http_5xx=1") as url:
        result = turnbench("run", "--host", url, *SHORT, "--out", str(tmp_path), "--slo", "ttft_p95_ms=5000")
    assert result.returncode == 1 and "RUN FAILED" in result.stdout, result.stdout + result.stderr[-1500:]


def test_a_config_file_with_environment_and_flag_overrides(emulator: str, tmp_path: Path) -> None:
    config = tmp_path / "nightly.toml"
    config.write_text(f'[run]\nhost = "http://127.0.0.1:9"\nscenario = "support"\nusers = 2\nrun_time = "6s"\n'
                      f'out = "{tmp_path / "runs"}"\nthink_time_scale = 0.05\n[slo]\nttft_p95_ms = 5000\n')  # fmt: skip
    dry = turnbench("run", "--config", str(config), "--dry-run", env={"TURNBENCH_USERS": "3"})
    assert dry.returncode == 0 and " -u 3 " in dry.stdout and "http://127.0.0.1:9" in dry.stdout
    result = turnbench("run", "--config", str(config), "--host", emulator, env={"TURNBENCH_USERS": "3"})
    assert result.returncode == 0, result.stdout + result.stderr[-1500:]
    (row,) = csv.DictReader((tmp_path / "runs" / "index.csv").open())
    assert row["users"] == "3"
    bad = tmp_path / "bad.toml"
    bad.write_text("[run]\nusers = 'many'\n")
    result = turnbench("run", "--config", str(bad))
    assert (
        result.returncode == 2
        and result.stderr.strip() == f"turnbench run: {bad}: [run] users: expected an integer, got 'many'"
    )


class Run(commands.Run):
    """A background run that a test can interrupt as a person would."""

    def handles_signals(self) -> bool:
        """turnbench's own handler is in place: it catches SIGTERM, which Python alone leaves alone."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
        return bool(caught >> (signal.SIGTERM - 1) & 1)

    def interrupt(self) -> tuple[int, float, set[int]]:
        """Ctrl-C: the exit code, how long it took to end, and the processes it had started."""
        started, processes = time.monotonic(), descendants(self.process.pid)
        self.process.send_signal(signal.SIGINT)
        while self.process.poll() is None and time.monotonic() - started < 120:
            processes |= descendants(self.process.pid)
            time.sleep(0.02)
        return self.process.wait(timeout=1), time.monotonic() - started, processes


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_an_interrupt_while_starting_up_is_one_line_and_exit_130(tmp_path: Path) -> None:
    # The moment turnbench's handler is in place, a little later (reading the options, importing
    # Locust, validating the scenario) and while it waits for a host that takes the connection and
    # never answers (after the scenario was validated, before any Locust process).
    for attempt, pause in enumerate([0.0, 0.1, 0.4, 0.8, None]):
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            silent.settimeout(90)
            host = f"http://127.0.0.1:{silent.getsockname()[1]}"
            with Run(host, tmp_path / f"attempt{attempt}", "-t", "60s") as run, contextlib.ExitStack() as held:
                wait_for(run.handles_signals, "turnbench's signal handler")
                if pause is None:
                    held.enter_context(silent.accept()[0])  # open: a closed one would fail the preflight
                else:
                    time.sleep(pause)
                code, took, _ = run.interrupt()
        assert code == 130 and took < 30, (pause, run.stderr.read_text()[-2000:])
        assert run.stderr.read_text() == "turnbench run: interrupted\n" and run.stdout.read_text() == "", pause
        assert [p for p in run.out.iterdir() if p.is_dir()] == []  # nothing started, nothing recorded


MODES = {"local": [], "--processes 2": ["--processes", "2"], "--workers 2": ["--workers", "2"]}


@pytest.mark.parametrize("mode", MODES)
def test_interrupts_at_random_moments_leave_consistent_files(emulator: str, tmp_path: Path, mode: str) -> None:
    rng = random.Random(mode)
    # While Locust starts up (its master dies at once, having measured nothing, and takes its
    # workers with it), once the test has started, and once turns are being recorded: the
    # interrupt must reach the master only, which lets every worker finish and ship its turns.
    for moment in ("Locust starting", "test started", "turns recorded"):
        interrupt_at(moment, rng.uniform(0.0, 2.0), emulator, tmp_path / moment.replace(" ", "-"), MODES[mode])


def interrupt_at(moment: str, pause: float, emulator: str, out: Path, mode: list[str]) -> None:
    served(emulator)
    with Run(emulator, out, "-u", "6", "-r", "6", "-t", "60s", "--think-time-scale", "0.05", *mode) as run:
        if moment == "Locust starting":
            wait_for(lambda: descendants(run.process.pid), "a Locust process")
        else:
            wait_for(lambda: run.file("run.json") if moment == "test started" else run.rows(), moment)
            time.sleep(pause)
        code, took, locust = run.interrupt()
        assert code == 130 and took < 30, (moment, run.stderr.read_text()[-2000:])  # no heartbeat timeout waited out
        wait_for(lambda: not any(alive(pid) for pid in locust), "the Locust processes to end", timeout=10)
    (line,) = run.turnbench_lines()
    assert line.startswith("turnbench run: INTERRUPTED (exit 130): "), moment
    assert len(run.rows()) == served(emulator), moment
    run_json = run.file("run.json")
    if moment != "Locust starting":
        assert run_json is not None and (run_json.parent / "locust_stats.csv").exists()
    if run_json is not None:
        assert json.loads(run_json.read_text())["status"] == "interrupted"
    if moment == "turns recorded":
        assert run.rows()


def test_a_second_interrupt_stops_at_once(tmp_path: Path) -> None:
    # Every answer stalls after a few tokens: stopping at the next turn boundary would take the
    # whole --stop-timeout, and only the second Ctrl-C can end the run sooner.
    stalls = ["--profile", "fast", "--model", "emulated", "--faults", "timeout_mid_stream=1"]
    users = ["-u", "4", "-r", "4", "-t", "60s", "--stop-timeout", "60", "--", "--loglevel", "INFO"]
    with running_emulator("sglang", *stalls) as url, Run(url, tmp_path / "run", *users) as run:
        wait_for(lambda: served(url, clear=False) >= 4, "every user in the middle of a turn")
        run.process.send_signal(signal.SIGINT)
        wait_for(lambda: "stopping users at their next turn boundary" in run.stderr.read_text(), "the graceful stop")
        code, took, _ = run.interrupt()
    assert code == 130 and took < 10, run.stderr.read_text()[-2000:]
    assert "turnbench run: stopped at once" in run.stderr.read_text()
    run_json = run.file("run.json")
    assert run_json is not None and json.loads(run_json.read_text())["status"] == "interrupted"
