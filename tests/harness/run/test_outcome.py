"""Scheduled-run verdicts from real runs against the emulator: exit codes, JUnit, history, interrupts."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.emulator.process import running_emulator

ROOT = Path(__file__).resolve().parents[3]
SHORT = ["--scenario", "support", "-u", "4", "-r", "4", "-t", "8s", "--think-time-scale", "0.05"]


def turnbench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "turnbench", *args], capture_output=True, text=True, timeout=180, cwd=ROOT,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def served(url: str) -> int:
    with urllib.request.urlopen(f"{url}/emulator/truth?clear=1", timeout=10) as response:
        return len(json.load(response))


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    with running_emulator("sglang", "--profile", "fast", "--model", "emulated") as url:
        yield url


def only_run(out: Path) -> Path:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


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


def test_interrupts_at_random_moments_leave_consistent_files(emulator: str, tmp_path: Path) -> None:
    rng = random.Random(7)
    # Locally, and with workers that Locust forks (--processes) or that turnbench starts (--workers):
    # the interrupt must reach the master only, which lets every worker finish and ship its turns.
    for attempt, mode in enumerate([[], [], ["--processes", "2"], ["--workers", "2"]]):
        served(emulator)
        out = tmp_path / f"attempt{attempt}"
        process = subprocess.Popen(
            [sys.executable, "-m", "turnbench", "run", "--host", emulator, "--scenario", "support", "-u", "6",
             "-r", "6", "-t", "60s", "--think-time-scale", "0.05", "--out", str(out), *mode],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(rng.uniform(3.0, 9.0))
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        assert process.wait(timeout=120) == 130
        assert time.monotonic() - started < 30, mode  # no worker waits out a heartbeat timeout
        run_dir = only_run(out)
        info = json.loads((run_dir / "run.json").read_text())
        assert info["status"] == "interrupted"
        with (run_dir / "requests.csv").open(newline="") as file:
            rows = list(csv.DictReader(file))
        assert 0 < len(rows) == served(emulator)
        assert (run_dir / "locust_stats.csv").exists()


def test_a_second_interrupt_stops_at_once(emulator: str, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "turnbench", "run", "--host", emulator, "--scenario", "support", "-u", "4", "-r", "4",
         "-t", "60s", "--out", str(tmp_path), "--stop-timeout", "60"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(5)
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    assert time.monotonic() - started < 10
    assert json.loads((only_run(tmp_path) / "run.json").read_text())["status"] == "interrupted"
