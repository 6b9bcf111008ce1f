"""Target against target (analysis/figures/ratios.py): ratios, intervals and the verdict a user reads."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from analysis.figures.findings import find
from analysis.figures.per_target import TargetAnalysis, analyse
from analysis.figures.prices import resolve_price
from analysis.figures.ratios import Comparison, MetricComparison, clustered_sample, compare
from analysis.figures.turns import ALL_TURNS, LATER_TURNS
from analysis.reading.load import Run, load_run
from analysis.reading.run_set import combined
from harness.slo import DEFAULT_SLO
from tests.analysis.rundirs import START, Spec, request_rows, write_run


def comparison(tmp_path: Path, base: Spec, cand: Spec) -> Comparison:
    findings = find([write_run(tmp_path, base), write_run(tmp_path, cand)], None, None, 5.0)
    (only,) = findings.comparisons
    return only


def row(c: Comparison, group: str, metric: str) -> MetricComparison:
    (found,) = [r for r in c.rows if r.group == group and r.metric.key == metric]
    return found


def test_a_faster_candidate_gets_a_plain_words_verdict(tmp_path: Path) -> None:
    c = comparison(
        tmp_path,
        Spec(conversations=800, seed=1),
        Spec(target="sglang", engine="sglang", conversations=800, seed=2, ttft_ms=320.0),
    )
    ttft = row(c, LATER_TURNS, "ttft_p50")
    assert ttft.outcome == "faster"
    assert re.fullmatch(
        r"sglang's median TTFT on turns >= 2 is 0\.\d\dx vllm's \(95% CI 0\.\d\d-0\.\d\d\): faster",
        ttft.verdict,
    )
    assert 0.7 < ttft.estimate.low < 0.8 < ttft.estimate.high < 0.9
    assert [r.metric.key for r in c.headline()] == ["ttft_p50", "ttft_p95", "e2e_p50", "tpot_p50"]
    assert [r.group for r in c.headline()] == [LATER_TURNS, LATER_TURNS, ALL_TURNS, ALL_TURNS]


def test_a_slower_candidate_is_called_slower(tmp_path: Path) -> None:
    c = comparison(tmp_path, Spec(conversations=800, seed=1), Spec(target="b", conversations=800, seed=2, e2e_ms=7500))
    assert row(c, ALL_TURNS, "e2e_p50").outcome == "slower"
    assert row(c, ALL_TURNS, "e2e_p50").verdict.endswith(": slower")


@pytest.mark.parametrize("metric", ["ttft_p50", "e2e_p50"])
def test_identical_distributions_show_no_significant_difference(tmp_path: Path, metric: str) -> None:
    c = comparison(tmp_path, Spec(conversations=600, seed=5), Spec(target="twin", conversations=600, seed=6))
    result = row(c, ALL_TURNS, metric)
    assert result.outcome == "no significant difference"
    assert re.search(r": no significant difference \(CI 0\.\d+-1\.\d+ includes 1\)$", result.verdict)


def test_comparisons_are_per_turn_and_reproducible(tmp_path: Path) -> None:
    base = write_run(tmp_path, Spec(conversations=100, seed=1))
    cand = write_run(tmp_path, Spec(target="b", conversations=100, seed=2, turns=3))
    first = find([base, cand], None, None, 5.0)
    again = find([base, cand], None, None, 5.0)
    groups = {r.group for r in first.comparisons[0].rows}
    assert groups == {"1", "2", "3", LATER_TURNS, ALL_TURNS}  # turn 4 exists only on one side
    assert first.comparisons[0].rows == again.comparisons[0].rows  # seeded


def test_every_run_is_compared_with_the_baseline(tmp_path: Path) -> None:
    runs = [write_run(tmp_path, Spec(target=name, conversations=50, seed=i)) for i, name in enumerate("abc")]
    assert [(c.baseline, c.candidate) for c in find(runs, None, None, 5.0).comparisons] == [("a", "b"), ("a", "c")]
    chosen = find(runs, None, None, 5.0, baseline="b").comparisons
    assert [(c.baseline, c.candidate) for c in chosen] == [("b", "a"), ("b", "c")]


def test_compare_needs_no_report(tmp_path: Path) -> None:
    findings = find([write_run(tmp_path, Spec(conversations=30))] * 1, None, None, 5.0)
    assert findings.comparisons == ()
    assert compare(findings.targets[0], findings.targets[0]).rows[0].estimate.ratio == 1.0


def analysed(run: Run) -> TargetAnalysis:
    return analyse(run, DEFAULT_SLO, resolve_price(run.info, None), 5.0)


def pair(tmp_path: Path, base: Spec, cand: Spec) -> Comparison:
    """compare() on two runs, without find()'s workload check (the seed also draws the latencies here)."""
    return compare(*(analysed(load_run(write_run(tmp_path, spec))) for spec in (base, cand)))


def test_a_a_stays_a_a_at_the_stated_rate(tmp_path: Path) -> None:
    """The same engine twice, ten times over, with turns correlated within conversations: the
    headline intervals include 1 about 95% of the time (a turn-level bootstrap would not)."""
    included = []
    for seed in range(10):
        c = pair(
            tmp_path,
            Spec(conversations=300, seed=100 + 2 * seed, conversation_sigma=0.3),
            Spec(target="twin", conversations=300, seed=101 + 2 * seed, conversation_sigma=0.3),
        )
        assert len(c.headline()) == 4
        included += [r.estimate.low <= 1.0 <= r.estimate.high for r in c.headline()]
    assert sum(included) >= 36  # of 40; at 95% each, 38 expected


def test_a_known_one_and_a_half_times_slower_candidate_is_found(tmp_path: Path) -> None:
    c = pair(
        tmp_path,
        Spec(conversations=300, seed=1, conversation_sigma=0.3),
        Spec(target="slow", conversations=300, seed=2, conversation_sigma=0.3, ttft_ms=600.0, e2e_ms=9000.0),
    )
    for r in c.headline():
        assert r.outcome == "slower", r.verdict
        assert 1.0 < r.estimate.low < 1.5 < r.estimate.high, r.verdict


def test_runs_of_a_target_are_resampled_as_runs(tmp_path: Path) -> None:
    """Two runs per target, read together with their `run` column: the candidate's second run
    drifted 25% slower, which widens its intervals against treating both runs as one."""
    base = analysed(combined([load_run(write_run(tmp_path, Spec(conversations=200, seed=s))) for s in (1, 2)]))
    runs = [
        load_run(write_run(tmp_path, Spec(target="b", conversations=200, seed=3))),
        load_run(write_run(tmp_path, Spec(target="b", conversations=200, seed=4, ttft_ms=500.0))),
    ]
    cand_run = combined(runs)
    by_run = row(compare(base, analysed(cand_run)), LATER_TURNS, "ttft_p50").estimate
    one_run = replace(cand_run, requests=cand_run.requests.drop(columns="run"))  # type: ignore[union-attr]
    pooled = row(compare(base, analysed(one_run)), LATER_TURNS, "ttft_p50").estimate
    assert (by_run.runs_baseline, by_run.runs_candidate, pooled.runs_candidate) == (2, 2, 1)
    assert by_run.high - by_run.low > 2 * (pooled.high - pooled.low), (by_run, pooled)
    # Both runs number their conversations alike (b-c000000, ...): the run keeps them apart.
    turn_1 = row(compare(base, analysed(cand_run)), "1", "ttft_p50").estimate
    assert turn_1.conversations_candidate == turn_1.n_candidate == 400


def test_two_runs_per_side_of_one_engine_show_no_difference(tmp_path: Path) -> None:
    base = analysed(combined([load_run(write_run(tmp_path, Spec(conversations=200, seed=s))) for s in (1, 2)]))
    cand = analysed(
        combined([load_run(write_run(tmp_path, Spec(target="b", conversations=200, seed=s))) for s in (3, 4)])
    )
    for r in compare(base, cand).headline():
        assert r.outcome == "no significant difference", r.verdict


def test_few_conversations_give_no_interval_however_many_turns(tmp_path: Path) -> None:
    frames = [
        request_rows(
            [
                {"conversation_id": f"{target}-{i}", "turn": turn, "started_at": START + 60 * i + 10 * turn,
                 "ttft_ms": 300.0 + 7 * i + turn, "target": target}
                for i in range(5) for turn in range(1, 7)
            ]
        )
        for target in ("a", "b")
    ]  # fmt: skip
    runs = [write_run(tmp_path, Spec(target=t, turns=6), requests=f) for t, f in zip("ab", frames, strict=True)]
    c = compare(*(analysed(load_run(path)) for path in runs))
    result = row(c, ALL_TURNS, "ttft_p50")
    assert result.outcome == "no interval"
    assert result.verdict.endswith("(no confidence interval: too few conversations: 5 vs 5)")


def test_the_resampled_values_are_the_per_turn_tables_values(tmp_path: Path) -> None:
    """One rule for which turns count: successful ones with trusted timings (TurnGroup.samples)."""
    run = load_run(write_run(tmp_path, Spec(conversations=100, failure_rate=0.1, lagged_share=0.05)))
    for group in analysed(run).groups:
        for column in ("ttft_ms", "e2e_ms", "tpot_ms"):
            assert np.array_equal(clustered_sample(group, column).values, group.samples(column))
