"""run.json (harness/recording/run_json.py): its end is the moment the test stopped, whatever comes after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from deploy.emulator.process import running_emulator
from harness.recording.lag_probe import LagHistogram
from harness.recording.run_json import RunRecorder
from tests.harness.recording.slow_quit import QUIT_DELAY_S, STOPPED_AT
from tests.harness.run.commands import ROOT

LOCUSTFILE = Path(__file__).with_name("slow_quit.py")


def test_a_second_finish_brings_the_counts_up_to_date_but_keeps_the_end(tmp_path: Path) -> None:
    target = {"name": "t", "engine": "vllm", "base_url": "http://127.0.0.1:9", "model": "m"}
    recorder = RunRecorder(tmp_path, target, {"name": "support"}, {}, {}, lag_limit_ms=5.0)  # type: ignore[arg-type]
    recorder.finish("complete", LagHistogram(), 1, turns=10)
    first = json.loads((tmp_path / "run.json").read_text())
    recorder.finish("complete", LagHistogram(), 1, turns=12)  # rows that came after the stop
    second = json.loads((tmp_path / "run.json").read_text())
    assert first["ended_at"] is not None and second["ended_at"] == first["ended_at"]
    assert second["turns"] == 12


def test_ended_at_is_when_the_test_stopped_not_when_locust_quit(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with running_emulator("vllm", "--profile", "fast", "--model", "emulated") as url:
        result = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", url, "-u", "2", "-r", "2",
             "--scenario", "support", "--think-time-scale", "0.05", "--turnbench-run-time", "3",
             "--turnbench-run-dir", str(run_dir), "--loglevel", "WARNING", "--only-summary"],
            capture_output=True, text=True, timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    info = json.loads((run_dir / "run.json").read_text())
    stopped_at = float((run_dir / STOPPED_AT).read_text())
    # The quit came QUIT_DELAY_S after the stop and rewrote run.json (the last counts) then...
    assert (run_dir / "run.json").stat().st_mtime >= stopped_at + QUIT_DELAY_S - 0.1
    assert info["reconciliation"]["complete"] is True and info["turns"] > 0
    # ...but the end it records is the stop's: turnbench finished the run before the listener ran.
    assert info["started_at"] < info["ended_at"] <= stopped_at
