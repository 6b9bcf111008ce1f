"""summary.json and the terminal text (analysis/report/summary.py): capacity and cost for a traffic."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from analysis.figures.findings import Findings
from analysis.report.answer import answer
from analysis.report.summary import SCHEMA_VERSION, summary_dict, terminal_text
from tests.analysis.report.hand_made import analysed, capacity, given, level, ratio, traffic_cost

CAPACITY_KEYS = {
    "conversations_per_hour", "interval", "estimate", "concurrent_conversations", "levels", "stop_reason",
    "pod_minutes",
}  # fmt: skip
COST_KEYS = {
    "traffic", "replicas", "usd_per_hour", "usd_per_month", "usd_per_conversation", "billing", "headroom", "busy_share"
}  # fmt: skip


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    base = analysed(tmp_path_factory.mktemp("runs"))
    overloaded = level(1200, False, ttft=math.inf, tpot=math.inf, failure_rate=0.2)
    return given(
        base,
        {
            "vllm": capacity([level(200, True), level(400, True), level(800, False)], low=380, high=460, estimate=430),
            "sglang": capacity([level(300, True), level(600, True), overloaded], low=560, high=math.inf),
        },
        {"vllm": traffic_cost(3), "sglang": traffic_cost(2)},
        [ratio("sglang", "vllm", 1.4, 1.22, math.inf, "higher")],
        traffic=1000.0,
        workload_warnings=("seed: vllm 1, sglang 2",),
    )


def test_summary_json_has_capacity_and_cost_for_the_traffic_per_target(findings: Findings, tmp_path: Path) -> None:
    summary = json.loads(json.dumps(summary_dict(findings, [], tmp_path), allow_nan=False))
    assert summary["schema_version"] == SCHEMA_VERSION == 2
    assert summary["answer"] == answer(findings)
    assert summary["traffic"] == {"conversations_per_hour": 1000.0, "headroom": 0.0}
    assert summary["workload_warnings"] == ["seed: vllm 1, sglang 2"]
    assert "ramp" not in summary["targets"]["vllm"]
    vllm, sglang = (summary["targets"][name] for name in ("vllm", "sglang"))
    assert set(vllm["capacity"]) == CAPACITY_KEYS and set(vllm["cost_for_traffic"]) == COST_KEYS
    assert vllm["capacity"]["conversations_per_hour"] == 400
    assert vllm["capacity"]["interval"] == [380, 460] and vllm["capacity"]["estimate"] == 430
    assert vllm["capacity"]["concurrent_conversations"] == pytest.approx(400 / 60)
    assert vllm["capacity"]["stop_reason"] == "bisected to +-10%" and vllm["capacity"]["pod_minutes"] == 42
    levels = vllm["capacity"]["levels"]
    assert [lv["conversations_per_hour"] for lv in levels] == [200, 400, 800]
    assert [lv["meets_slo"] for lv in levels] == [True, True, False]
    assert [lv["ttft_p95_ms"] for lv in levels] == [1500, 1500, 2600] and all(lv["clear"] for lv in levels)
    assert vllm["cost_for_traffic"] == {
        "traffic": 1000.0, "replicas": 3, "usd_per_hour": pytest.approx(23.94), "usd_per_month": pytest.approx(17476.2),
        "usd_per_conversation": pytest.approx(0.02394), "billing": "pod", "headroom": 0.0, "busy_share": 1.0,
    }  # fmt: skip
    assert sglang["cost_for_traffic"]["replicas"] == 2
    # Infinities are null: no failed level above 600, and the overloaded level's p95s (over 5% missed).
    assert sglang["capacity"]["interval"] == [560, None]
    assert sglang["capacity"]["levels"][-1]["ttft_p95_ms"] is None
    assert sglang["capacity"]["levels"][-1]["failure_rate"] == 0.2
    (stored,) = summary["capacity_ratios"]
    assert (stored["baseline"], stored["candidate"], stored["ratio"]) == ("vllm", "sglang", 1.4)
    assert (stored["low"], stored["high"], stored["outcome"]) == (1.22, None, "higher")


def test_without_a_traffic_or_levels_the_keys_are_null(findings: Findings, tmp_path: Path) -> None:
    bare = given(findings, {"vllm": None, "sglang": None})
    summary = summary_dict(bare, [], tmp_path)
    assert summary["traffic"] is None and summary["capacity_ratios"] == []
    assert summary["targets"]["vllm"]["capacity"] is None
    assert summary["targets"]["vllm"]["cost_for_traffic"] is None


def test_the_terminal_text_starts_with_the_answer_then_one_line_per_target(findings: Findings) -> None:
    lines = terminal_text(findings, Path("/runs/report.html")).splitlines()
    assert lines[0] == answer(findings)
    assert lines[0].startswith("For 1,000 conversations/hour within the SLO (TTFT <= 2000 ms and TPOT <= 50 ms), ")
    assert lines[1] == "vllm: capacity 400 conversations/h per replica (380-460), 3 replicas, $17,476/month"
    assert lines[2] == "sglang: capacity 600 conversations/h per replica (at least 560), 2 replicas, $11,651/month"
    assert lines[3] == "WARNING: the workloads differ: seed: vllm 1, sglang 2"
    assert lines[4] == "vllm vs sglang"
    assert lines[-1] == "report: /runs/report.html"
    failed = given(findings, {"vllm": capacity([level(100, False)]), "sglang": None})
    lines = terminal_text(failed, Path("/runs/report.html")).splitlines()
    assert lines[1:3] == [
        "vllm: capacity none: no load level held the SLO",
        "sglang: capacity not measured (no load level)",
    ]
