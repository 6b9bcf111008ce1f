"""Load levels (analysis/figures/capacity/levels.py, level_score.py, locust_levels.py) on synthetic run directories."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from analysis.errors import AnalysisError
from analysis.figures.capacity import level_score, locust_levels
from analysis.figures.capacity.levels import LoadLevel, level_of_run, levels_of_run, ramp_levels, why_no_levels
from analysis.figures.percentiles import percentile
from analysis.figures.prices import Price
from analysis.reading.load import load_run
from harness.slo import Slo
from tests.analysis.rundirs import (
    PERCENTILES,
    START,
    Spec,
    arrivals,
    conversation_rows,
    locust_bucket,
    locust_percentile,
    request_rows,
    write_run,
)

POD = Price("pod", 7.98, 2, "test")
TTFT_SLO = Slo(ttft_p95_ms=2000.0)
# A ramp whose third step breaks a 2 s TTFT p95: latency grows 15% per user above the first step's 8.
RAMP = Spec(levels=((8, 300.0), (16, 300.0), (32, 300.0)), conversations=240, load_factor=0.15, full_history=True)


def arrival_level(root: Path, spec: Spec, slo: Slo = TTFT_SLO) -> LoadLevel:
    level = level_of_run(load_run(write_run(root, spec)), slo, POD, 5.0)
    assert level is not None
    return level


def locust_only_copy(run_dir: Path, folder: Path) -> Path:
    """Only Locust's own CSVs of the run, in a folder of their own (no run.json, no requests.csv)."""
    folder.mkdir(parents=True)
    for path in run_dir.glob("locust_*.csv"):
        shutil.copy(path, folder / path.name)
    return folder


def test_an_arrival_run_is_one_level_at_its_rate_judged_after_its_warm_up(tmp_path: Path) -> None:
    level = arrival_level(tmp_path, arrivals(1200, 600, warmup_s=60.0))
    assert level.kind == "arrivals" and level.users == 64
    assert level.conversations_per_hour == 1200
    assert (level.start, level.end) == (START + 60.0, START + 600.0)
    assert level.started_per_hour == pytest.approx(1200, rel=0.2)
    assert level.meets_slo and level.clear and level.score_high < 1.0
    assert level.why.startswith("TTFT p95 ") and level.why.endswith("<= 2,000 ms")
    assert level.late_starts == 0 and level.misses == 0
    assert level.turns_per_conversation == pytest.approx(4.0, rel=0.15)
    assert level.usd_per_conversation == pytest.approx(7.98 * 540 / 3600 / level.conversations)


def test_a_closed_loop_run_is_not_an_arrival_level(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path, Spec(conversations=20)))
    assert level_of_run(run, TTFT_SLO, POD, 5.0) is None
    assert [level.kind for level in levels_of_run(run, TTFT_SLO, POD, 5.0)] == ["users"]


def test_a_level_with_20_percent_failures_fails_whatever_its_latency(tmp_path: Path) -> None:
    fast = arrivals(1200, 600, ttft_ms=20.0, e2e_ms=100.0, failure_rate=0.2)
    level = arrival_level(tmp_path, fast, Slo(ttft_p95_ms=2000.0, e2e_p95_ms=30000.0))
    assert level.failure_rate == pytest.approx(0.2, abs=0.04)
    assert math.isinf(level.ttft_p95_ms) and math.isinf(level.e2e_p95_ms) and math.isinf(level.tpot_p95_ms)
    assert not level.meets_slo and level.clear and math.isinf(level.score)
    assert level.why.startswith("TTFT p95 infinite: more than 5% of turns missed")


def test_a_lagged_turn_is_a_miss(tmp_path: Path) -> None:
    def level(lagged: int) -> LoadLevel:
        rows = [{"conversation_id": f"c{i}", "started_at": START + 10 + i, "ttft_ms": 100.0, "lagged": i < lagged}
                for i in range(40)]  # fmt: skip
        path = write_run(
            tmp_path / str(lagged),
            arrivals(240, 60, conversations=40),
            requests=request_rows(rows),
            conversations=conversation_rows([{"conversation_id": f"c{i}"} for i in range(40)]),
        )
        found = level_of_run(load_run(path), TTFT_SLO, POD, 5.0)
        assert found is not None
        return found

    assert level(0).ttft_p95_ms == 100.0 and level(0).meets_slo
    assert level(2).ttft_p95_ms == 100.0 and level(2).misses == 2  # 5%: the p95 is still a real turn
    three = level(3)  # 7.5% missed: the p95 is infinite although every turn took 100 ms
    assert three.misses == 3 and math.isinf(three.ttft_p95_ms) and not three.meets_slo
    assert three.failure_rate == 0.0  # lagged is not failed


def test_late_starts_over_one_percent_fail_a_level(tmp_path: Path) -> None:
    late = arrival_level(tmp_path / "late", arrivals(1200, 600, late_share=0.05))
    assert late.late_starts >= 0.02 * late.conversations
    assert not late.meets_slo
    assert "started over 1 s late > 1%: the load was not offered" in late.why
    on_time = arrival_level(tmp_path / "on-time", arrivals(1200, 600))
    assert on_time.late_starts == 0 and on_time.meets_slo


def test_the_bootstrap_is_reproducible_and_its_interval_holds_the_score(tmp_path: Path) -> None:
    path = write_run(tmp_path, arrivals(1200, 600))
    first, again = (level_of_run(load_run(path), TTFT_SLO, POD, 5.0) for _ in range(2))
    assert first == again
    assert first is not None and first.score_low <= first.score <= first.score_high


def test_a_level_with_20_thousand_turns_and_a_few_misses_holds(tmp_path: Path) -> None:
    slo = Slo(ttft_p95_ms=2000.0, tpot_p95_ms=100.0, e2e_p95_ms=30000.0, failure_rate=0.05)
    run = load_run(write_run(tmp_path, arrivals(5000, 3600, failure_rate=0.01, lagged_share=0.01)))
    assert run.requests is not None and len(run.requests) > 19_000
    level = level_of_run(run, slo, POD, 5.0)
    assert level is not None and level.meets_slo and level.misses > 0


def test_weighted_percentiles_with_unit_weights_are_the_nearest_rank_rule() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 2, 19, 20, 21, 137):
        values = rng.lognormal(6, 1, n)
        values[rng.random(n) < 0.1] = np.nan  # not reported: left out
        codes = rng.integers(0, max(1, n // 3), n)
        ones = np.ones((1, int(codes.max()) + 1), dtype=np.int32)
        got = level_score._weighted_percentile(values, codes, ones, 0.95)[0]
        assert got == percentile(values, 0.95) or (math.isnan(got) and math.isnan(percentile(values, 0.95)))


def test_a_resample_counts_each_turn_as_often_as_its_conversation_was_drawn() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0])
    codes = np.array([0, 0, 1, 2])
    weights = np.array([[0, 3, 1], [2, 0, 0]], dtype=np.int32)  # {3,3,3,4} and {1,2,1,2}
    assert list(level_score._weighted_percentile(values, codes, weights, 0.5)) == [3.0, 1.0]


def test_concurrency_is_the_time_average_of_conversations_in_progress(tmp_path: Path) -> None:
    rows = [{"conversation_id": f"c{i}", "started_at": START + 5 * i} for i in range(12)]
    talks = [
        {"conversation_id": f"c{i}", "started_at": START + 5 * i, "ended_at": START + 5 * i + 30} for i in range(12)
    ]
    path = write_run(tmp_path, arrivals(720, 60, conversations=12),
                     requests=request_rows(rows), conversations=conversation_rows(talks))  # fmt: skip
    level = level_of_run(load_run(path), TTFT_SLO, POD, 5.0)
    # Over [0, 60): conversations start every 5 s and last 30 s (cut at 60): 30*6 + 25+20+15+10+5+0... / 60.
    expected = sum(min(60.0, 5 * i + 30) - 5 * i for i in range(12)) / 60.0
    assert level is not None and level.concurrent_conversations == pytest.approx(expected)


@pytest.fixture(scope="module")
def ramp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run(tmp_path_factory.mktemp("ramp"), RAMP)


def test_a_ramp_step_is_judged_without_its_first_fifth(ramp_dir: Path) -> None:
    levels = ramp_levels(load_run(ramp_dir), TTFT_SLO, POD, 5.0)
    assert [level.users for level in levels] == [8, 16, 32]
    # A step ends at its own last history row (a second before the next step's first), the last one a
    # second after its last row; its first fifth is not judged.
    spans = [(0, 299), (300, 599), (600, 900)]
    expected = [(begin + 0.2 * (end - begin), end) for begin, end in spans]
    got = [value for level in levels for value in (level.start - START, level.end - START)]
    assert got == pytest.approx([value for window in expected for value in window])
    assert [level.meets_slo for level in levels] == [True, True, False]
    assert all(level.kind == "users" for level in levels)
    load = [level.conversations_per_hour for level in levels]
    assert load == sorted(load) and load[1] == levels[1].started_per_hour


def test_a_ramp_from_its_locust_csvs_alone_gives_the_same_levels(ramp_dir: Path, tmp_path: Path) -> None:
    full = ramp_levels(load_run(ramp_dir), TTFT_SLO, POD, 5.0)
    run = load_run(locust_only_copy(ramp_dir, tmp_path / "vllm"))
    assert run.locust_only and why_no_levels(run) is None
    csv = ramp_levels(run, TTFT_SLO, POD, 5.0)
    assert [level.meets_slo for level in csv] == [level.meets_slo for level in full]
    assert [level.users for level in csv] == [8, 16, 32]
    for a, b in zip(full, csv, strict=True):
        assert b.locust_only and b.score_low == b.score == b.score_high
        assert b.conversations_per_hour == pytest.approx(a.conversations_per_hour, rel=0.15)
        assert b.turns == pytest.approx(a.turns, rel=0.15)
        assert b.ttft_p95_ms == pytest.approx(a.ttft_p95_ms, rel=0.2)
        assert b.e2e_mean_s == pytest.approx(a.e2e_mean_s, rel=0.1)
        assert b.concurrent_conversations == b.users


def test_locust_history_failures_are_misses_in_its_p95s() -> None:
    values = np.arange(100.0, 2001.0, 100.0)  # 20 responses, 100 ms to 2,000 ms
    one = [(20.0, np.array([locust_percentile(values, p) for p in PERCENTILES]))]
    assert locust_levels._mixture_percentile(one, 0.0, 0.95) == 1900.0  # nearest rank 19 of 20
    assert locust_levels._mixture_percentile(one, 1.0, 0.95) == 2000.0  # 1 of 21 failed: rank 20, the slowest
    assert math.isinf(locust_levels._mixture_percentile(one, 2.0, 0.95))  # 2 of 22 failed: more than 5%
    assert math.isnan(locust_levels._mixture_percentile([], 0.0, 0.95))


def test_a_p95_from_locust_history_spans_is_close_to_the_p95_of_their_responses() -> None:
    rng = np.random.default_rng(0)
    for most in (4, 40, 400):  # responses per 10-s span: a few (light load) to many
        errors = []
        for _ in range(30):
            spans, responses = [], []
            for slower in np.linspace(1.0, 2.0, 30):  # latency drifts over the window
                values = rng.lognormal(6.0, 0.5, rng.integers(1, most + 1)) * slower
                spans.append((float(len(values)), np.array([locust_percentile(values, p) for p in PERCENTILES])))
                responses.append(locust_bucket(values))
            truth = percentile(np.concatenate(responses), 0.95)
            errors.append(locust_levels._mixture_percentile(spans, 0.0, 0.95) / truth - 1.0)
        # A window of a few dozen turns can lose one slow turn hidden below its span's median (one bucket).
        assert max(abs(e) for e in errors) < 0.25 and np.median(np.abs(errors)) < 0.03


def test_what_a_run_lacks_for_a_level_is_said(tmp_path: Path, ramp_dir: Path) -> None:
    closed = write_run(tmp_path / "closed", Spec(conversations=20))
    (closed / "locust_stats_history.csv").unlink()
    assert "not an arrival-mode run" in str(why_no_levels(load_run(closed)))
    csv = locust_only_copy(write_run(tmp_path / "plain", Spec(conversations=20)), tmp_path / "plain-csv")
    run = load_run(csv)
    assert "no rows for the 'turn 01' entries" in str(why_no_levels(run)) and ramp_levels(run, TTFT_SLO, POD, 5) == []
    assert why_no_levels(load_run(ramp_dir)) is None


def test_a_bad_arrival_rate_in_run_json_is_one_line(tmp_path: Path) -> None:
    path = write_run(tmp_path, arrivals(1200, 60))
    info = json.loads((path / "run.json").read_text())
    info["load"]["conversations_per_hour"] = 0
    (path / "run.json").write_text(json.dumps(info))
    with pytest.raises(
        AnalysisError, match=r"run.json: key load.conversations_per_hour: expected a number above 0, got 0"
    ):
        level_of_run(load_run(path), TTFT_SLO, POD, 5.0)
