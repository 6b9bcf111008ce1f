"""`turnbench bench` tells an accurate client from a biased one, against its ground-truth server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_quick_bench_reports_figures_that_separate_accurate_and_biased_clients(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "turnbench", "bench", "--quick", "--runs", "1", "--out", str(tmp_path / "bench")],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    (folder,) = (tmp_path / "bench").iterdir()
    report = json.loads((folder / "bench.json").read_text())
    cells = {(f["client"], f["load"]): f for f in report["medians"]}
    assert {client for client, _ in cells} == {"turnbench", "locust readline", "locust iter_lines"}
    for client in ("turnbench", "locust readline"):
        for load in ("paced 1", "paced 16"):
            assert abs(cells[client, load]["ttft_err_p50_ms"]) < 5, (client, load)
    # Locust's iter_lines waits for 1 KiB: several 20 ms gaps late; the bench must see it.
    assert cells["locust iter_lines", "paced 16"]["ttft_err_p50_ms"] > 40
    assert all(f["cpu_ms_per_1k_tokens"] > 0 and f["tokens"] > 0 for f in report["medians"])
    assert "| turnbench | paced 16 |" in (folder / "bench.md").read_text()
    assert not (tmp_path / "cache").exists()  # a quick run is no calibration: it saves no cost figure


def test_a_meaningless_repeat_count_is_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "turnbench", "bench", "--runs", "0"], capture_output=True, text=True, timeout=60,
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == "turnbench bench: --runs 0 --rounds 3: both must be at least 1"
