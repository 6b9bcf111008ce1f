"""The per-turn table (analysis/figures/turns.py), checked against pandas and numpy computed directly."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.figures.turns import ALL_TURNS, LATER_TURNS, figures, turn_groups
from analysis.reading.load import load_run
from tests.analysis.rundirs import Spec, request_rows, write_run


def q(values: pd.Series, p: float) -> float:
    values = values.dropna()
    return float(np.quantile(values, p, method="inverted_cdf")) if len(values) else math.nan


def expected(rows: pd.DataFrame) -> dict[str, float]:
    ok = rows[rows["ok"] == True]  # noqa: E712  (the CSV's True/False, read independently of analysis)
    both = rows.dropna(subset=["prompt_tokens", "cached_tokens"])
    return {
        "n": len(rows),
        "ttft_p50_ms": q(ok["ttft_ms"], 0.5),
        "ttft_p90_ms": q(ok["ttft_ms"], 0.9),
        "ttft_p99_ms": q(ok["ttft_ms"], 0.99),
        "ttfo_p50_ms": q(ok["ttfo_ms"], 0.5),
        "tpot_p50_ms": q(ok["tpot_ms"], 0.5),
        "itl_p99_ms": q(ok["itl_p99_ms"], 0.5),
        "e2e_p50_ms": q(ok["e2e_ms"], 0.5),
        "e2e_p95_ms": q(ok["e2e_ms"], 0.95),
        "prompt_tokens_p50": q(ok["prompt_tokens"], 0.5),
        "cached_share": both["cached_tokens"].sum() / both["prompt_tokens"].sum(),
        "failure_rate": float((rows["ok"] == False).mean()),  # noqa: E712
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = Spec(conversations=500, turns=5, failure_rate=0.04, seed=11)
    return write_run(tmp_path_factory.mktemp("turns"), spec)


def test_every_turn_row_matches_a_direct_computation(run_dir: Path) -> None:
    raw = pd.read_csv(run_dir / "requests.csv")
    loaded = load_run(run_dir)
    assert loaded.requests is not None
    rows = {f.group: f for f in (figures(g) for g in turn_groups(loaded.requests))}
    assert list(rows) == ["1", "2", "3", "4", "5", LATER_TURNS, ALL_TURNS]
    cases = {str(t): raw[raw["turn"] == t] for t in range(1, 6)}
    cases[LATER_TURNS] = raw[raw["turn"] >= 2]
    cases[ALL_TURNS] = raw
    for group, subset in cases.items():
        for name, value in expected(subset).items():
            assert getattr(rows[group], name) == pytest.approx(value, nan_ok=True), (group, name)
    assert rows[ALL_TURNS].failure_rate > 0  # the case really has failures...
    assert rows["1"].cached_share == pytest.approx(0.5)  # ...and turn 1 reuses only the shared half


def test_a_turn_where_everything_failed_has_counts_but_no_latency(tmp_path: Path) -> None:
    requests = request_rows(
        [
            {"conversation_id": "a", "turn": 1},
            {"conversation_id": "a", "turn": 2, "ok": False, "ttft_ms": None, "prompt_tokens": None},
        ]
    )
    loaded = load_run(write_run(tmp_path, Spec(), requests=requests))
    assert loaded.requests is not None
    second = figures(turn_groups(loaded.requests)[1])
    assert second.n == 1 and second.failure_rate == 1.0
    assert math.isnan(second.ttft_p50_ms) and math.isnan(second.cached_share)
