"""What the per-turn figures leave out and keep apart (analysis/figures/turns.py and its readers):
branches get their own row, lagged turns leave every latency figure but stay in the failure rate,
and the report says how many it left out. Real run directories, written as the harness writes them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.figures.findings import find
from analysis.figures.turns import ALL_TURNS, BRANCHES, LATER_TURNS, figures, turn_groups
from analysis.reading.load import load_run
from analysis.report.build import build_report
from harness.recording.turn_summary import by_turn, read_turn_rows, summarise
from tests.analysis.rundirs import Spec, request_rows, requests_frame, write_run

SLOW_MS = 60_000.0  # what a stalled load generator made of a turn: far above every real one


def branchy_rows() -> pd.DataFrame:
    """Two conversations: 1, 2, a regenerate of 2 (recorded as turn 3, fully cached), 4; and 1, 2."""
    turn = {"prompt_tokens": 2000, "cached_tokens": 1000, "ttft_ms": 400.0}
    return request_rows(
        [
            {"conversation_id": "a", "turn": 1, **turn, "cached_tokens": 0, "ttft_ms": 900.0},
            {"conversation_id": "a", "turn": 2, **turn},
            {"conversation_id": "a", "turn": 3, "branch_kind": "regenerate", "branch_of": 2, **turn,
             "cached_tokens": 1999, "ttft_ms": 30.0},
            {"conversation_id": "a", "turn": 4, **turn},
            {"conversation_id": "b", "turn": 1, **turn, "cached_tokens": 0, "ttft_ms": 900.0},
            {"conversation_id": "b", "turn": 2, **turn, "ok": False, "ttft_ms": None, "prompt_tokens": None,
             "cached_tokens": None},
        ]
    )  # fmt: skip


def test_branches_have_their_own_row_and_stay_out_of_the_turn_rows(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path, Spec(), requests=branchy_rows()))
    assert run.requests is not None
    rows = {f.group: f for f in (figures(g) for g in turn_groups(run.requests))}
    assert list(rows) == ["1", "2", "4", LATER_TURNS, BRANCHES, ALL_TURNS]
    assert (rows["2"].n, rows["4"].n, rows[LATER_TURNS].n, rows[BRANCHES].n, rows[ALL_TURNS].n) == (2, 1, 3, 1, 6)
    assert rows[LATER_TURNS].ttft_p50_ms == 400.0 and rows[BRANCHES].ttft_p50_ms == 30.0
    assert rows[BRANCHES].turn is None and rows[BRANCHES].cached_share == pytest.approx(1999 / 2000)
    # The failed turn is in the failure rate but not in the cached share's denominator.
    assert rows["2"].failure_rate == 0.5 and rows["2"].cached_share == pytest.approx(0.5)
    assert rows[ALL_TURNS].cached_share == pytest.approx((0 + 1000 + 1999 + 1000 + 0) / 10_000)

    # The run's own gates (harness/recording/turn_summary.py) group the same way.
    written = read_turn_rows(run.path / "requests.csv")
    assert {turn: len(group) for turn, group in by_turn(written).items()} == {1: 2, 2: 2, 4: 1}
    assert summarise(written).cached_share == pytest.approx(rows[ALL_TURNS].cached_share)

    report = build_report([run.path], tmp_path / "report", None, None)
    table = report.markdown.read_text()
    assert "| branches |" in table and "| turn 3 |" not in table


def lagged_run(tmp_path: Path, spec: Spec, share: float) -> tuple[Path, pd.DataFrame]:
    """A run whose load generator stalled during `share` of its successful turns (their timings blown up)."""
    frame = requests_frame(spec)
    rng = np.random.default_rng(spec.seed + 100)
    lagged = frame["ok"].to_numpy() & (rng.random(len(frame)) < share)
    frame["lagged"] = lagged
    frame["lag_ms"] = np.where(lagged, 250.0, 1.0)
    for column in ("ttft_ms", "ttfo_ms", "e2e_ms"):
        frame[column] = np.where(lagged, SLOW_MS, frame[column])
    return write_run(tmp_path, spec, requests=frame), frame


def test_lagged_turns_leave_every_latency_figure_and_the_report_counts_them(tmp_path: Path) -> None:
    levels = ((8, 300.0), (16, 300.0))
    base_path, _ = lagged_run(tmp_path, Spec(conversations=300, levels=levels, seed=3), 0.0)
    cand_path, cand = lagged_run(
        tmp_path, Spec(target="sglang", engine="sglang", conversations=300, levels=levels, seed=3), 0.1
    )
    flagged = int(cand["lagged"].sum())
    assert flagged > 50
    findings = find([base_path, cand_path], {"ttft_p95_ms": 5000.0}, None, 5.0)
    target = findings.targets[1]
    assert target.lagged_turns == flagged
    every = {f.group: f for f in target.turns}[ALL_TURNS]
    trusted = cand[cand["ok"] & ~cand["lagged"]]
    assert every.lagged == flagged and every.ttft_p99_ms == float(
        np.quantile(trusted["ttft_ms"], 0.99, method="inverted_cdf")
    )
    assert every.e2e_p95_ms < SLOW_MS and every.failure_rate == pytest.approx(1 - cand["ok"].mean())
    # The same traffic, apart from the stalls: no verdict may come from the client's own delays.
    verdicts = {row.metric.key: row.outcome for row in findings.comparisons[0].rows if row.group == ALL_TURNS}
    assert verdicts["e2e_p50"] == "no significant difference", verdicts
    # A load level judges a lagged turn as a miss (infinitely slow), not as left out: 10% of them fail every step.
    base_capacity, capacity = findings.targets[0].capacity, target.capacity
    assert base_capacity is not None and capacity is not None and len(capacity.levels) == 2
    assert all(level.ttft_p95_ms < SLOW_MS and level.meets_slo for level in base_capacity.levels)
    assert all(math.isinf(level.ttft_p95_ms) and not level.meets_slo for level in capacity.levels)
    assert sum(level.misses for level in capacity.levels) <= flagged and all(level.misses for level in capacity.levels)

    (caveat,) = [c for c in findings.caveats if c.kind == "lagged_turns_left_out"]
    assert caveat.targets == ("sglang",) and f"{flagged} successful turn(s)" in caveat.message
    report = build_report([base_path, cand_path], tmp_path / "report", {"ttft_p95_ms": 5000.0}, None)
    markdown = report.markdown.read_text()
    assert "lagged (left out)" in markdown and caveat.message in markdown
    summary = summarise(read_turn_rows(cand_path / "requests.csv"))
    assert summary.lagged == flagged and summary.e2e_p95_ms is not None and summary.e2e_p95_ms < SLOW_MS
    assert summary.failure_rate == pytest.approx(every.failure_rate)


def test_a_run_from_before_the_flags_reads_as_nothing_lagged_and_no_branches(tmp_path: Path) -> None:
    frame = requests_frame(Spec(conversations=50, seed=4)).drop(columns=["lagged", "lag_ms", "branch_kind"])
    run = load_run(write_run(tmp_path, Spec(conversations=50, seed=4), requests=frame))
    assert run.requests is not None
    rows = [figures(g) for g in turn_groups(run.requests)]
    assert [r.group for r in rows][-2:] == [LATER_TURNS, ALL_TURNS] and all(r.lagged == 0 for r in rows)
    assert not math.isnan(rows[-1].ttft_p50_ms)
