"""Load levels and capacity over a ramp (analysis/figures/ramp.py), on a hand-made ramp."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.figures.findings import find
from analysis.figures.ramp import Ramp, level_spans
from tests.analysis.rundirs import (
    LOCUST_HISTORY_HEADER,
    START,
    Spec,
    conversation_rows,
    request_rows,
    write_csv,
    write_run,
)

# Three 60 s levels (10, 20, 40 users) with 5 one-second spawn steps between them.
SCHEDULE = [10] * 60 + [11, 13, 15, 17, 19] + [20] * 60 + [24, 28, 32, 36, 38] + [40] * 60
LEVELS = {10: (0, 60), 20: (65, 125), 40: (130, 190)}  # (start, end) in seconds from START
TTFT = {10: 500.0, 20: 900.0, 40: 2500.0}  # the 40-user level breaks a 2000 ms TTFT SLO
CONVERSATIONS = {10: 10, 20: 20, 40: 40}


def history() -> pd.DataFrame:
    frame = pd.DataFrame(0, index=range(len(SCHEDULE)), columns=LOCUST_HISTORY_HEADER)
    frame["Timestamp"] = [int(START) + i for i in range(len(SCHEDULE))]
    frame["User Count"] = SCHEDULE
    frame["Type"], frame["Name"] = "", "Aggregated"
    return frame


@pytest.fixture
def ramp_run(tmp_path: Path) -> Path:
    requests, conversations = [], []
    for users, (begin, _) in LEVELS.items():
        for c in range(CONVERSATIONS[users]):
            cid = f"u{users}-c{c}"
            started = START + begin + 1 + c * 0.5
            requests.append({"conversation_id": cid, "started_at": started, "ttft_ms": TTFT[users], "e2e_ms": 4000.0})
            conversations.append({"conversation_id": cid, "started_at": started, "ended_at": started + 4.0})
    path = write_run(
        tmp_path,
        Spec(levels=((10, 190.0),)),
        requests=request_rows(requests),
        conversations=conversation_rows(conversations),
    )
    write_csv(history(), path / "locust_stats_history.csv")
    return path


def ramp_of(path: Path, slo: dict[str, float], prices: dict[str, float] | None = None) -> Ramp:
    ramp = find([path], slo, prices, 5.0).targets[0].ramp
    assert ramp is not None
    return ramp


def test_levels_are_stretches_of_one_user_count_and_spawn_steps_are_dropped() -> None:
    spans = level_spans(history())
    assert [(u, b - START, e - START) for u, b, e in spans] == [(10, 0, 60), (20, 65, 125), (40, 130, 190)]


def test_capacity_is_the_busiest_level_that_meets_the_slo(ramp_run: Path) -> None:
    ramp = ramp_of(ramp_run, {"ttft_p95_ms": 2000, "e2e_p95_ms": 30000}, prices={"vllm": 7.98})
    assert [level.users for level in ramp.levels] == [10, 20, 40]
    assert [level.meets_slo for level in ramp.levels] == [True, True, False]
    assert [level.conversations_per_hour for level in ramp.levels] == pytest.approx([600, 1200, 2400])
    assert [level.ttft_p95_ms for level in ramp.levels] == [500, 900, 2500]
    assert ramp.capacity is not None and ramp.capacity.users == 20
    assert ramp.capacity.conversations_per_hour == pytest.approx(1200)
    assert ramp.capacity.usd_per_conversation == pytest.approx(7.98 / 1200)
    assert ramp.levels[0].output_tokens_per_s == pytest.approx(10 * 200 / 60)


def test_no_level_meeting_the_slo_means_no_capacity(ramp_run: Path) -> None:
    ramp = ramp_of(ramp_run, {"ttft_p95_ms": 400})
    assert ramp.is_ramp and ramp.capacity is None


def test_serverless_cost_per_level_counts_busy_time_inside_the_level(ramp_run: Path) -> None:
    info = json.loads((ramp_run / "run.json").read_text())
    info["target"]["billing"] = {"kind": "serverless", "usd_per_gpu_second": 0.001}
    (ramp_run / "run.json").write_text(json.dumps(info))
    ramp = ramp_of(ramp_run, {"ttft_p95_ms": 2000})
    # 10-user level: turns start at 1, 1.5, ... 5.5 s and last 4 s, + 5 s idle: one busy block, 1 s to 14.5 s.
    assert ramp.levels[0].usd_per_conversation == pytest.approx(0.001 * 2 * 13.5 / 10)


def test_a_single_level_is_not_a_ramp(tmp_path: Path) -> None:
    ramp = ramp_of(write_run(tmp_path, Spec(conversations=20)), {"ttft_p95_ms": 2000})
    assert len(ramp.levels) == 1 and not ramp.is_ramp


def test_history_without_aggregated_rows_still_gives_levels() -> None:
    rows = history()
    rows["Name"] = "chat"
    assert len(level_spans(rows)) == 3
    assert level_spans(rows.iloc[:0]) == []
    assert np.isfinite([b for _, b, _ in level_spans(rows)]).all()


def test_every_bound_of_the_one_slo_judges_a_level(ramp_run: Path) -> None:
    loose = {"ttft_p95_ms": 1e9}
    assert all(level.meets_slo for level in ramp_of(ramp_run, loose).levels)
    tight_tpot = ramp_of(ramp_run, {**loose, "tpot_p95_ms": 1e-6})
    assert not any(level.meets_slo for level in tight_tpot.levels) and tight_tpot.capacity is None
    # No turn failed, so any failure-rate bound holds.
    assert all(level.meets_slo for level in ramp_of(ramp_run, {**loose, "failure_rate": 0.001}).levels)
