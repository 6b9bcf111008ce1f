"""The report's page (analysis/report/sections.py, capacity_blocks.py): the answer first, the notice once."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from analysis.figures.caveats import EMULATED_NOTICE
from analysis.figures.findings import Findings
from analysis.report.answer import answer
from analysis.report.build import write_report
from tests.analysis.report.hand_made import analysed, capacity, given, level, ratio, traffic_cost

WARNING = "scenario: vllm ran support (3f2a), sglang ran coding (9c1e)"


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    base = analysed(tmp_path_factory.mktemp("runs"), emulated=True)
    overloaded = level(1200, False, ttft=math.inf, tpot=math.inf, failure_rate=0.2)
    return given(
        base,
        {
            "vllm": capacity([level(200, True), level(400, True), level(800, False)], low=380, high=460),
            "sglang": capacity([level(300, True), level(600, True, clear=False), overloaded], low=300, high=1200),
        },
        {"vllm": traffic_cost(3), "sglang": traffic_cost(2)},
        [ratio("sglang", "vllm", 1.5, 0.65, 3.16, "no significant difference")],
        traffic=1000.0,
        workload_warnings=(WARNING,),
        compared_at="at 400 conversations/hour, the highest load both targets held",
    )


def test_the_page_leads_with_warnings_notice_and_answer_then_the_charts(findings: Findings, tmp_path: Path) -> None:
    result = write_report(findings, tmp_path / "out")
    md = result.markdown.read_text()
    paragraphs = md.split("\n\n")
    assert paragraphs[1].startswith("> **The compared runs did not have the same workload")
    assert paragraphs[2] == f"- {WARNING}"
    assert paragraphs[3] == f"> **{EMULATED_NOTICE} (vllm, sglang).**"
    assert paragraphs[4:6] == ["## Summary", answer(findings)]
    assert paragraphs[6] == (
        "**Capacity per replica at the SLO (TTFT <= 2000 ms and TPOT <= 50 ms), and what 1,000 conversations/hour "
        "cost**"
    )
    table = paragraphs[7].splitlines()
    assert table[2:] == [
        "| vllm | 400 | 380-460 | 6.7 | 3 | $23.94 | $17,476 | $0.0239 | pod | 3 | 42.0 |",
        "| sglang | 600 | 300-1,200 | 10.0 | 2 | $15.96 | $11,651 | $0.0160 | pod | 3 | 42.0 |",
    ]
    charts = md.index("## Latency and cost against load")
    assert md.index("](latency_vs_load.png)") > charts and md.index("](cost_vs_traffic.png)") > charts
    assert charts < md.index("## Per turn") < md.index("## Per-turn charts") < md.index("](ttft_by_turn.png)")
    assert "The comparison is at 400 conversations/hour, the highest load both targets held." in md


def test_the_emulator_notice_is_said_once_per_page_not_under_every_table(findings: Findings, tmp_path: Path) -> None:
    result = write_report(findings, tmp_path / "out")
    for text in (result.markdown.read_text(), result.html.read_text()):
        assert text.count(EMULATED_NOTICE) == 1
    assert result.html.read_text().count('class="note"') == 0


def test_each_target_lists_every_level_with_why_it_held_or_failed(findings: Findings, tmp_path: Path) -> None:
    md = write_report(findings, tmp_path / "out").markdown.read_text()
    assert "no ramp" not in md and "single load level" not in md
    assert md.count(": load levels (ms; a failed or lagged turn is a miss") == 2
    held = "| held | TTFT p95 1,500 ms <= 2,000 ms |"
    assert f"| 400 | 400 | 330 | 1,500 | 30.0 | 9,000 | 0.0% | 0 | 0.75 (0.71-0.79) {held} yes |" in md
    assert f"| 600 | 600 | 500 | 1,500 | 30.0 | 9,000 | 0.0% | 0 | 0.75 (0.38-1.12) {held} no |" in md
    assert (
        "| 1,200 | 1,200 | 1,000 | inf | inf | inf | 20.0% | 0 | inf | failed | TTFT p95 inf ms > 2,000 ms | yes |"
        in md
    )
    assert "- stopped: bisected to +-10%; 42.0 pod-minutes" in md
