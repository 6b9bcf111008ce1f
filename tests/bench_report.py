"""How long the whole report takes on a million turn rows: `python -m tests.bench_report`.

Two run directories (vLLM-like and SGLang-like), 500,000 requests.csv rows each, over a four-level
ramp, so every stage runs at full size: loading and checking, per-turn tables, bootstrap
comparisons, cost and capacity, all five charts, report.html / report.md / summary.json.
Writing the synthetic files is not timed. Goal: <= 10 s on the 2-core development machine.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from analysis.report.build import build_report
from tests.analysis.rundirs import Spec, requests_frame, write_run

ROWS_PER_TARGET = 500_000
TURNS = 8
GOAL_S = 10.0
LEVELS = ((32, 900.0), (64, 900.0), (128, 900.0), (256, 900.0))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="turnbench-bench-report-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        runs = [_write(root, "vllm", seed=1, ttft_ms=400.0), _write(root, "sglang", seed=2, ttft_ms=340.0)]
        rows = 2 * ROWS_PER_TARGET
        print(f"wrote {rows:,} request rows in {time.perf_counter() - started:.1f} s (not timed)")
        started = time.perf_counter()
        result = build_report(runs, root / "report", slo={"ttft_p95_ms": 2000, "e2e_p95_ms": 30000}, prices=None)
        elapsed = time.perf_counter() - started
        print(result.summary)
        print(f"charts drawn: {len(result.plots)} of 5")
        print(f"full report on {rows:,} rows: {elapsed:.2f} s (goal <= {GOAL_S:.0f} s)")
        return 0 if elapsed <= GOAL_S else 1


def _write(root: Path, engine: str, seed: int, ttft_ms: float) -> Path:
    """Exactly ROWS_PER_TARGET rows: generate a few more conversations, keep the earliest turns."""
    spec = Spec(
        target=engine,
        engine=engine,
        seed=seed,
        ttft_ms=ttft_ms,
        conversations=ROWS_PER_TARGET // TURNS + 5_000,
        turns=TURNS,
        levels=LEVELS,
        load_factor=0.004,
    )
    requests = requests_frame(spec).sort_values("started_at", kind="stable").head(ROWS_PER_TARGET)
    if len(requests) < ROWS_PER_TARGET:
        raise SystemExit(f"the synthetic run has only {len(requests):,} rows; raise its conversation count")
    return write_run(root, spec, requests=requests.reset_index(drop=True))


if __name__ == "__main__":
    sys.exit(main())
