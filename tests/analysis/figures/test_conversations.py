"""Per-conversation figures and the SLO share (analysis/figures/conversations.py, slo.py), on a hand-made case."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pytest

from analysis.errors import AnalysisError
from analysis.figures.conversations import ConversationFigures, conversation_figures
from analysis.figures.findings import find
from analysis.reading.load import load_run
from harness.slo import DEFAULT_SLO, Slo
from tests.analysis.rundirs import START, Spec, conversation_rows, request_rows, write_run

SLO = {"ttft_p95_ms": 2000, "e2e_p95_ms": 30000}


@pytest.fixture
def case(tmp_path: Path) -> Path:
    """Six conversations of two turns; exactly one (c1) meets the SLO on every turn."""
    turns: dict[str, list[dict[str, object]]] = {
        "c1": [{}, {}],
        "c2": [{}, {"ttft_ms": 2500.0}],  # one slow first token
        "c3": [{"e2e_ms": 31000.0}, {}],  # one slow answer
        "c4": [{}, {"ok": False, "ttft_ms": None}],  # a failed turn (the conversation failed)
        "c5": [{}],  # interrupted by the end of the run: neither met nor missed
        "c6": [{}, {"ttft_ms": None}],  # ok, but no TTFT was reported: cannot show it met the SLO
    }
    requests = request_rows(
        [{"conversation_id": cid, "turn": i + 1, **row} for cid, rows in turns.items() for i, row in enumerate(rows)]
    )
    conversations = conversation_rows(
        [
            {"conversation_id": "c1", "started_at": START, "ended_at": START + 10},
            {"conversation_id": "c2", "started_at": START, "ended_at": START + 20},
            {"conversation_id": "c3", "started_at": START, "ended_at": START + 30},
            {"conversation_id": "c4", "status": "failed", "ended_at": START + 5},
            {"conversation_id": "c5", "status": "interrupted", "turns_done": 1},
            {"conversation_id": "c6", "started_at": START, "ended_at": START + 40},
        ]
    )
    return write_run(tmp_path, Spec(turns=2), requests=requests, conversations=conversations)


def figures_for(path: Path, slo: Mapping[str, float] | None) -> ConversationFigures:
    run = load_run(path)
    assert run.requests is not None and run.conversations is not None
    return conversation_figures(run.requests, run.conversations, Slo.from_mapping(slo) if slo else DEFAULT_SLO)


def test_slo_share_counts_conversations_whose_every_turn_met_it(case: Path) -> None:
    f = figures_for(case, SLO)
    assert (f.finished, f.complete, f.failed, f.interrupted) == (5, 4, 1, 1)
    assert f.slo_met == 1
    assert f.slo_share == pytest.approx(1 / 5)


def test_durations_are_over_complete_conversations(case: Path) -> None:
    f = figures_for(case, SLO)
    assert f.duration_p50_s == 20.0 and f.duration_p90_s == 40.0
    assert f.turns_p50 == 4


def test_an_slo_on_ttft_alone_ignores_e2e(case: Path) -> None:
    assert figures_for(case, {"ttft_p95_ms": 2000}).slo_met == 2  # c1 and c3


@pytest.mark.parametrize(
    ("slo", "message"),
    [
        ({"ttft_p99_ms": 1}, "--slo: unknown key 'ttft_p99_ms'; use ttft_p95_ms, e2e_p95_ms, tpot_p95_ms, "
         "failure_rate, per_turn"),
        ({"ttft_p95_ms": -5}, "--slo: ttft_p95_ms must be a positive number of milliseconds, got -5"),
        ({}, "--slo: give at least one bound, e.g. ttft_p95_ms=2000"),
    ],
)  # fmt: skip
def test_a_bad_slo_is_one_line_from_the_analysis(
    case: Path, tmp_path: Path, slo: dict[str, float], message: str
) -> None:
    with pytest.raises(AnalysisError) as caught:
        find([case], slo, None, 5.0)
    assert str(caught.value) == message


def test_a_tpot_bound_misses_the_conversations_with_a_slow_turn(case: Path) -> None:
    assert figures_for(case, {**SLO, "tpot_p95_ms": 1e-9}).slo_met == 0
    assert figures_for(case, {**SLO, "tpot_p95_ms": 1e9}).slo_met == figures_for(case, SLO).slo_met


def test_the_default_slo_says_it_is_a_default() -> None:
    assert DEFAULT_SLO.describe() == (
        "TTFT <= 2000 ms and E2E <= 30000 ms and TPOT <= 100 ms and failures <= 1.0% (default; set with --slo)"
    )


def test_a_run_that_ended_before_any_conversation_did(tmp_path: Path) -> None:
    path = write_run(tmp_path, Spec(), requests=request_rows([{"conversation_id": "c1"}]))
    (path / "conversations.csv").write_text((path / "conversations.csv").read_text().splitlines()[0] + "\n")
    f = figures_for(path, SLO)
    assert (f.finished, f.slo_met) == (0, 0)
    assert math.isnan(f.slo_share) and math.isnan(f.duration_p50_s)
