"""`turnbench compare` with no targets: both emulated engines, one workload, one report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_compare_runs_both_emulated_engines_and_reports(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "turnbench", "compare", "-u", "4", "-r", "4", "-t", "12s", "--profile", "fast",
         "--think-time-scale", "0.1", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "vllm-emulated" in result.stdout and "sglang-emulated" in result.stdout and "verdict" in result.stdout
    report = Path(result.stdout.strip().splitlines()[-1].split("report: ")[-1])
    assert report.name == "report.html" and report.exists()
    summary = json.loads((report.parent / "summary.json").read_text())
    assert len(summary["targets"]) == 2
    runs = [json.loads(p.read_text()) for p in tmp_path.glob("*/run.json")]
    assert sorted(r["target"]["name"] for r in runs) == ["sglang-emulated", "vllm-emulated"]
    assert all(r["cache_flushed"] is True and r["target"]["billing"]["kind"] == "pod" for r in runs)
    assert all(r["target"]["billing"]["usd_per_hour"] == 7.98 for r in runs)  # priced as a 2x H100 Secure pod
