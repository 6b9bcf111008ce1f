"""Target against target (analysis/figures/ratios.py): ratios, intervals and the verdict a user reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analysis.figures.findings import find
from analysis.figures.ratios import Comparison, MetricComparison, compare
from analysis.figures.turns import ALL_TURNS, LATER_TURNS
from tests.analysis.rundirs import Spec, write_run


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
