"""One SLO vocabulary for run gates, the report and the capacity search: parsed once, judged the same."""

from __future__ import annotations

import math

import pytest

from harness.slo import DEFAULT_SLO, Slo, SloError


def test_items_from_a_command_line_and_a_config_table_mean_the_same() -> None:
    items = Slo.parse(["ttft_p95_ms=2000", "tpot_p95_ms=80", "failure_rate=0.01", "per_turn=true"])
    table = Slo.from_mapping({"ttft_p95_ms": 2000, "tpot_p95_ms": 80.0, "failure_rate": 0.01, "per_turn": True})
    assert items == table
    assert items.bounds == {"ttft_p95_ms": 2000.0, "tpot_p95_ms": 80.0, "failure_rate": 0.01}
    assert items.per_turn and items.e2e_ms == math.inf


def test_a_flag_overrides_only_the_keys_it_sets() -> None:
    config = Slo.from_mapping({"ttft_p95_ms": 2000, "e2e_p95_ms": 30000, "per_turn": True})
    merged = config.merged(Slo.parse(["ttft_p95_ms=500"]))
    assert (merged.ttft_p95_ms, merged.e2e_p95_ms, merged.per_turn) == (500.0, 30000.0, True)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["ttft_p95_ms"], "--slo: expected KEY=VALUE like ttft_p95_ms=2000, got 'ttft_p95_ms'"),
        (["ttft_p95_ms=fast"], "--slo: ttft_p95_ms: 'fast' is not a number"),
        (["ttft_p95_ms=inf"], "--slo: ttft_p95_ms: 'inf' is not a finite number"),
        (["ttft_p95_ms=0"], "--slo: ttft_p95_ms must be a positive number of milliseconds, got '0'"),
        (["failure_rate=5"], "--slo: failure_rate must be a share between 0 and 1, got '5'"),
        (["per_turn=maybe"], "--slo: per_turn: expected true or false, got 'maybe'"),
        (["ttft_p50_ms=100"], "--slo: unknown key 'ttft_p50_ms'; use ttft_p95_ms, e2e_p95_ms, tpot_p95_ms, "
                              "failure_rate, per_turn"),
    ],
)  # fmt: skip
def test_a_mistake_is_one_line_naming_the_key(items: list[str], message: str) -> None:
    with pytest.raises(SloError) as caught:
        Slo.parse(items)
    assert str(caught.value) == message


def test_a_load_level_holds_the_slo_only_when_every_bound_that_is_set_holds() -> None:
    slo = Slo.parse(["ttft_p95_ms=2000", "failure_rate=0.05"])
    assert slo.level_met(ttft_p95_ms=1999, e2e_p95_ms=1e9, failure_rate=0.05)
    assert not slo.level_met(ttft_p95_ms=2001, e2e_p95_ms=1, failure_rate=0.0)
    assert not slo.level_met(ttft_p95_ms=100, e2e_p95_ms=1, failure_rate=0.2)
    assert not slo.level_met(ttft_p95_ms=100, e2e_p95_ms=1)  # failure rate not measured: not met


def test_the_default_is_an_interactive_chat_and_says_so() -> None:
    bounds = {"ttft_p95_ms": 2000.0, "e2e_p95_ms": 30000.0, "tpot_p95_ms": 100.0, "failure_rate": 0.01}
    assert DEFAULT_SLO.bounds == bounds
    assert DEFAULT_SLO.describe() == (
        "TTFT <= 2000 ms and E2E <= 30000 ms and TPOT <= 100 ms and failures <= 1.0% (default; set with --slo)"
    )
    assert Slo.parse(["tpot_p95_ms=50", "failure_rate=0.01"]).describe() == "TPOT <= 50 ms and failures <= 1.0%"
