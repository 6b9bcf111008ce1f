"""A ramp's levels and capacity as find() reads them (analysis/figures/capacity/levels.py, estimate.py),
on a hand-made ramp."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.figures.capacity.estimate import Capacity
from analysis.figures.capacity.levels import RAMP_WARMUP_SHARE, level_spans
from analysis.figures.findings import find
from tests.analysis.rundirs import (
    LOCUST_HISTORY_HEADER,
    START,
    Spec,
    conversation_rows,
    request_rows,
    write_csv,
    write_run,
)

# Three 60 s levels (10, 20, 40 users) with 5 one-second spawn steps between them. A level ends at its
# own last history row (its 61st, one per second), the last one a second after its last row.
SCHEDULE = [10] * 61 + [11, 13, 15, 17, 19] + [20] * 61 + [24, 28, 32, 36, 38] + [40] * 60
LEVELS = {10: (0, 60), 20: (66, 126), 40: (132, 192)}  # (start, end) in seconds from START
TTFT = {10: 500.0, 20: 900.0, 40: 2500.0}  # the 40-user level breaks a 2000 ms TTFT SLO
CONVERSATIONS = {10: 10, 20: 20, 40: 40}
WARMUP_S = RAMP_WARMUP_SHARE * 60  # of each 60 s level, not judged
MEASURED_S = 60 - WARMUP_S


def history() -> pd.DataFrame:
    frame = pd.DataFrame(0, index=range(len(SCHEDULE)), columns=LOCUST_HISTORY_HEADER)
    frame["Timestamp"] = [int(START) + i for i in range(len(SCHEDULE))]
    frame["User Count"] = SCHEDULE
    frame["Type"], frame["Name"] = "", "Aggregated"
    return frame


@pytest.fixture
def ramp_run(tmp_path: Path) -> Path:
    """Each level's conversations (one turn each) start every 0.5 s from 1 s into its measured window."""
    requests, conversations = [], []
    for users, (begin, _) in LEVELS.items():
        for c in range(CONVERSATIONS[users]):
            cid = f"u{users}-c{c}"
            started = START + begin + WARMUP_S + 1 + c * 0.5
            requests.append({"conversation_id": cid, "started_at": started, "ttft_ms": TTFT[users], "e2e_ms": 4000.0})
            conversations.append({"conversation_id": cid, "started_at": started, "ended_at": started + 4.0})
    path = write_run(
        tmp_path,
        Spec(levels=((10, 192.0),)),
        requests=request_rows(requests),
        conversations=conversation_rows(conversations),
    )
    write_csv(history(), path / "locust_stats_history.csv")
    return path


def capacity_of(path: Path, slo: dict[str, float], prices: dict[str, float] | None = None) -> Capacity:
    capacity = find([path], slo, prices, 5.0).targets[0].capacity
    assert capacity is not None
    return capacity


def test_levels_are_stretches_of_one_user_count_and_spawn_steps_are_dropped() -> None:
    spans = level_spans(history())
    assert [(u, b - START, e - START) for u, b, e in spans] == [(u, b, e) for u, (b, e) in LEVELS.items()]


def test_capacity_is_the_highest_load_that_meets_the_slo(ramp_run: Path) -> None:
    capacity = capacity_of(ramp_run, {"ttft_p95_ms": 2000, "e2e_p95_ms": 30000}, prices={"vllm": 7.98})
    levels = capacity.levels
    assert [level.users for level in levels] == [10, 20, 40]
    assert [(level.start - START, level.end - START) for level in levels] == [
        (begin + WARMUP_S, end) for begin, end in LEVELS.values()
    ]
    assert [level.meets_slo for level in levels] == [True, True, False]
    # The load of a ramp step: conversations started in its measured window, per hour.
    assert [level.conversations_per_hour for level in levels] == pytest.approx([750, 1500, 3000])
    assert [level.ttft_p95_ms for level in levels] == [500, 900, 2500]
    held = capacity.held_level
    assert held is not None and held.users == 20
    assert capacity.conversations_per_hour == pytest.approx(1500)
    assert held.usd_per_conversation == pytest.approx(7.98 / 1500)
    assert levels[0].output_tokens_per_s == pytest.approx(10 * 200 / MEASURED_S)
    # Every turn of a level took the same time, so each verdict is clear; the 40-user level failed.
    assert capacity.low == pytest.approx(1500) and capacity.high == pytest.approx(3000)
    # Where the score (TTFT p95 / bound: 0.45 at 1,500, 1.25 at 3,000) crosses 1, in log-log.
    crossing = 1500 * 2 ** (math.log(1 / 0.45) / math.log(1.25 / 0.45))
    assert capacity.estimate == pytest.approx(crossing)


def test_no_level_meeting_the_slo_means_no_capacity(ramp_run: Path) -> None:
    capacity = capacity_of(ramp_run, {"ttft_p95_ms": 400})
    assert len(capacity.levels) == 3
    assert capacity.conversations_per_hour is None and capacity.held_level is None and capacity.estimate is None


def test_serverless_cost_per_level_counts_busy_time_inside_the_level(ramp_run: Path) -> None:
    info = json.loads((ramp_run / "run.json").read_text())
    info["target"]["billing"] = {"kind": "serverless", "usd_per_gpu_second": 0.001}
    (ramp_run / "run.json").write_text(json.dumps(info))
    capacity = capacity_of(ramp_run, {"ttft_p95_ms": 2000})
    # 10-user level: turns start at 13, 13.5, ... 17.5 s and last 4 s, + 5 s idle: one busy block, 13 s to 26.5 s.
    assert capacity.levels[0].usd_per_conversation == pytest.approx(0.001 * 2 * 13.5 / 10)


def test_a_single_level_is_one_level(tmp_path: Path) -> None:
    capacity = capacity_of(write_run(tmp_path, Spec(conversations=20)), {"ttft_p95_ms": 2000})
    assert len(capacity.levels) == 1 and capacity.levels[0].users == 16


def test_history_without_aggregated_rows_still_gives_levels() -> None:
    rows = history()
    rows["Name"] = "chat"
    assert len(level_spans(rows)) == 3
    assert level_spans(rows.iloc[:0]) == []
    assert np.isfinite([b for _, b, _ in level_spans(rows)]).all()


def test_every_bound_of_the_one_slo_judges_a_level(ramp_run: Path) -> None:
    loose = {"ttft_p95_ms": 1e9}
    assert all(level.meets_slo for level in capacity_of(ramp_run, loose).levels)
    tight_tpot = capacity_of(ramp_run, {**loose, "tpot_p95_ms": 1e-6})
    assert not any(level.meets_slo for level in tight_tpot.levels) and tight_tpot.conversations_per_hour is None
    # No turn failed, so any failure-rate bound holds.
    assert all(level.meets_slo for level in capacity_of(ramp_run, {**loose, "failure_rate": 0.001}).levels)
