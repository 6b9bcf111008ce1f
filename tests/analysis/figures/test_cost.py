"""The cost model (analysis/figures/cost.py, prices.py) against hand-computed values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from analysis.errors import AnalysisError
from analysis.figures.cost import CostFigures, busy_seconds, price_window
from analysis.figures.findings import find
from analysis.figures.prices import Price, resolve_price
from tests.analysis.rundirs import START, Spec, conversation_rows, request_rows, run_info, write_run

STARTS = np.array([0.0, 2.0, 20.0, 21.5, 100.0])
DURATIONS = np.array([1.0, 1.0, 0.5, 3.0, 2.0])


def test_busy_time_is_the_union_of_intervals_extended_by_the_idle_timeout() -> None:
    # With a 5 s idle timeout: [0,6] and [2,8] merge into 8 s; [20,25.5] and [21.5,29.5] into 9.5 s; [100,107] is 7 s.
    assert busy_seconds(STARTS, DURATIONS, 5.0) == pytest.approx(8 + 9.5 + 7)
    # Without one, nothing overlaps: the sum of the durations.
    assert busy_seconds(STARTS, DURATIONS, 0.0) == pytest.approx(7.5)
    # Order does not matter.
    order = np.array([4, 2, 0, 3, 1])
    assert busy_seconds(STARTS[order], DURATIONS[order], 5.0) == pytest.approx(24.5)
    # Clipped to a window [5, 25]: 3 s of the first block, 5 s of the second.
    assert busy_seconds(STARTS, DURATIONS, 5.0, within=(5.0, 25.0)) == pytest.approx(8.0)
    assert busy_seconds(np.array([]), np.array([]), 5.0) == 0.0


def test_a_window_costs_pod_hours_or_busy_gpu_seconds() -> None:
    pod = Price("pod", 7.98, 8, "run.json")
    assert price_window(pod, (0.0, 1800.0), None, 5.0, clip=False) == (1800.0, pytest.approx(3.99))
    serverless, intervals = Price("serverless", 3.6, 2, "run.json"), (STARTS, DURATIONS)
    # The whole run pays the idle tail after its window; a ramp level only its own seconds.
    assert price_window(serverless, (5.0, 25.0), intervals, 5.0, clip=False) == (24.5, pytest.approx(0.001 * 2 * 24.5))
    assert price_window(serverless, (5.0, 25.0), intervals, 5.0, clip=True) == (8.0, pytest.approx(0.001 * 2 * 8.0))
    assert all(math.isnan(x) for x in price_window(serverless, (5.0, 25.0), None, 5.0, clip=False))


def hand_run(tmp_path: Path, billing: dict[str, object] | None, gpu_count: int = 2) -> Path:
    """30 minutes; 3 conversations complete (2 within the SLO), 1 failed; 4 turns of 200 tokens each."""
    spec = Spec(billing=billing, gpu_count=gpu_count, levels=((4, 1800.0),))  # type: ignore[arg-type]
    rows = []
    for c in range(4):
        for t in range(4):
            rows.append(
                {"conversation_id": f"c{c}", "turn": t + 1, "started_at": START + STARTS[t] + 100 * c,
                 "e2e_ms": DURATIONS[t] * 1000, "ttft_ms": 3000.0 if (c, t) == (1, 0) else 300.0,
                 "ok": (c, t) != (3, 3), "completion_tokens": 200}
            )  # fmt: skip
    statuses = ["complete", "complete", "complete", "failed"]
    conversations = conversation_rows([{"conversation_id": f"c{c}", "status": s} for c, s in enumerate(statuses)])
    return write_run(tmp_path, spec, requests=request_rows(rows), conversations=conversations)


def cost_of(path: Path, prices: dict[str, float] | None = None, idle: float = 5.0) -> CostFigures:
    return find([path], {"ttft_p95_ms": 2000}, prices, idle).targets[0].cost


def test_pod_cost_is_price_times_window(tmp_path: Path) -> None:
    c = cost_of(hand_run(tmp_path, {"kind": "pod", "usd_per_hour": 7.98}, gpu_count=8))
    assert c.total_usd == pytest.approx(7.98 / 2)  # per pod: gpu_count does not matter
    assert c.conversations_completed == 3
    assert c.conversations_per_hour == pytest.approx(6.0)
    assert c.usd_per_conversation == pytest.approx(3.99 / 3)
    assert c.output_tokens == 16 * 200  # failed turns' tokens were paid for too
    assert c.usd_per_million_output_tokens == pytest.approx(3.99 / 3200 * 1e6)
    assert c.slo_conversations == 2
    assert c.usd_per_slo_conversation == pytest.approx(3.99 / 2)


def test_serverless_cost_is_busy_gpu_seconds(tmp_path: Path) -> None:
    path = hand_run(tmp_path, {"kind": "serverless", "usd_per_gpu_second": 0.00116})
    # Each conversation's 4 turns are the 5 intervals' first 4, 100 s apart: busy 8 + 9.5 s, x 4 conversations.
    busy = 4 * (8 + 9.5)
    c = cost_of(path)
    assert c.billed_s == pytest.approx(busy)
    assert c.total_usd == pytest.approx(0.00116 * 2 * busy)
    assert c.usd_per_conversation == pytest.approx(0.00116 * 2 * busy / 3)
    shorter = cost_of(path, idle=0.0)
    assert shorter.billed_s == pytest.approx(4 * (1 + 1 + 0.5 + 3))


def test_a_price_override_wins(tmp_path: Path) -> None:
    pod = cost_of(hand_run(tmp_path / "pod", {"kind": "pod", "usd_per_hour": 7.98}), prices={"vllm": 5.0})
    assert pod.total_usd == pytest.approx(2.5) and pod.price.source == "--price"
    path = hand_run(tmp_path / "sls", {"kind": "serverless", "usd_per_gpu_second": 0.00116})
    serverless = cost_of(path, prices={"vllm": 3.6})  # per GPU-hour: $0.001 per GPU-second
    assert serverless.total_usd == pytest.approx(0.001 * 2 * 4 * 17.5)


def test_a_run_without_a_price_uses_a_dated_default(tmp_path: Path) -> None:
    c = cost_of(hand_run(tmp_path, None))
    assert c.price.is_default and c.price.usd_per_hour == 7.98
    assert "2026-11" in c.price.source
    info = run_info(Spec(billing={"kind": "serverless"}))
    price = resolve_price(info, None)
    assert price.is_default and price.usd_per_gpu_second == pytest.approx(0.00116)
    assert "as of 2026-06-08" in price.source  # the date of Runpod's serverless price table


def test_a_price_for_an_unknown_target_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match=r"^--price: no run has target 'sglang'; the targets are vllm$"):
        cost_of(hand_run(tmp_path, None), prices={"sglang": 5.0})


def test_no_completed_conversation_gives_no_cost_per_conversation(tmp_path: Path) -> None:
    conversations = conversation_rows([{"conversation_id": "c0", "status": "interrupted"}])
    path = write_run(tmp_path, Spec(), requests=request_rows([{"conversation_id": "c0"}]), conversations=conversations)
    c = cost_of(path)
    assert c.conversations_completed == 0 and math.isnan(c.usd_per_conversation)
