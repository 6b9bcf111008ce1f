"""The capacity search end to end against real vLLM (CPU build, tiny model): prefix caching must show.

On a shared-context workload every conversation starts with the same 2,000-token document. With
prefix caching vLLM prefills it once and each turn after that only reads it from the cache; with
`--no-enable-prefix-caching` every turn prefills all of it again, so the same 2 cores hold the SLO
up to a lower arrival rate. The search runs the two servers' levels one at a time (they share the
machine's 2 cores with the load generator), alternating who goes first.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engines.vllm_cpu import SERVED_NAME

pytestmark = pytest.mark.engine
ROOT = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).with_name("cpu-shared-context.toml")
# Sized for this machine: the first level near where the uncached server's TTFT p95 reaches the bound
# (measured here: about 400-700 conversations/hour uncached, 700-1,500 cached), a coarse resolution so
# each search takes 3-5 levels, and a budget that ends the test whatever the machine's speed.
SEARCH = ["--start-rate", "600", "--resolution", "0.25", "--level-time", "20s", "--warmup", "8s", "--budget", "14m",
          "--one-at-a-time", "--think-time-scale", "1", "--slo", "ttft_p95_ms=1500", "e2e_p95_ms=5000",
          "failure_rate=0.02"]  # fmt: skip


def test_prefix_caching_serves_more_conversations_within_the_slo(
    vllm_url: str, vllm_uncached_url: str, tiny_model: Path, tmp_path: Path
) -> None:
    targets = tmp_path / "targets.toml"
    targets.write_text(
        "".join(
            f'[[target]]\nname = "{name}"\nengine = "vllm"\nbase_url = "{url}"\nmodel = "{SERVED_NAME}"\n\n'
            for name, url in (("cached", vllm_url), ("uncached", vllm_uncached_url))
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "turnbench", "compare", "--targets", str(targets), "--scenario", str(SCENARIO),
         "--out", str(tmp_path / "runs"), "--traffic", "1000/h", *SEARCH, "--", "--tokenizer", str(tiny_model)],
        capture_output=True, text=True, timeout=1200, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (summary_path,) = (tmp_path / "runs").glob("*-compare/report/summary.json")
    summary = json.loads(summary_path.read_text())
    cached, uncached = (summary["targets"][name]["capacity"] for name in ("cached", "uncached"))
    assert cached["conversations_per_hour"] is not None, result.stdout[-3000:]
    assert uncached["conversations_per_hour"] is None or (
        cached["conversations_per_hour"] > uncached["conversations_per_hour"]
    ), result.stdout[-3000:]
    # Every level was measured with the cache flushed first, and its turns hit the cache or not as flagged.
    runs = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*-compare/*/*/run.json")]
    assert runs and all(run["cache_flushed"] is True for run in runs)
    for name, capacity in (("cached", cached), ("uncached", uncached)):
        assert capacity["stop_reason"] and capacity["pod_minutes"] > 0, (name, capacity)
    assert summary["targets"]["cached"]["cost_for_traffic"]["replicas"] >= 1
