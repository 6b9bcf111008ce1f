"""A level's watcher stops it only once the SLO cannot hold, and sizes its lines and window."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest

from harness.recording.run_dir import REQUEST_COLUMNS, REQUESTS_CSV, RUN_JSON
from harness.slo import Slo
from turnbench.level_run import MIN_WINDOW_TURNS, LevelSettings, Load, _Tail, lines_for

SLO = Slo(ttft_p95_ms=2000.0, e2e_p95_ms=30000.0, failure_rate=0.01)
SETTINGS = LevelSettings("support", 1.0, warmup_s=10.0, window_s=60.0, slo=SLO, turns_per_conversation=4.0,
                         slowest_conversation_s=120.0)  # fmt: skip
RATE = Load(conversations_per_hour=3600.0)  # 1 conversation/s, 4 turns/s: at most 4 x 60 x 1.3 + 10 = 322 turns


def write_rows(run_dir: Path, rows: list[dict[str, object]], started_at: float) -> None:
    run_dir.mkdir(exist_ok=True)
    (run_dir / RUN_JSON).write_text(json.dumps({"started_at": started_at}))
    path = run_dir / REQUESTS_CSV
    new = not path.exists()
    with path.open("a", newline="") as file:
        writer = csv.DictWriter(file, REQUEST_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerows({column: row.get(column, "") for column in REQUEST_COLUMNS} for row in rows)


def turn(at: float, ttft_ms: float = 300.0, ok: bool = True, lagged: bool = False) -> dict[str, object]:
    return {"started_at": at, "ttft_ms": ttft_ms, "e2e_ms": 3000.0, "ok": ok, "lagged": lagged}


def test_slow_turns_stop_a_level_only_past_five_percent_of_what_its_window_can_hold(tmp_path: Path) -> None:
    start = time.time() - 100
    write_rows(tmp_path, [turn(start + 20, ttft_ms=5000.0) for _ in range(16)], start)
    tail = _Tail(tmp_path, SETTINGS.warmup_s, SLO)
    assert tail.clearly_failed(RATE, SETTINGS) == ""  # 16 <= 5% of 322: the rest could still bring p95 under
    write_rows(tmp_path, [turn(start + 21, ttft_ms=5000.0)], start)
    assert "missed the TTFT bound" in tail.clearly_failed(RATE, SETTINGS)


def test_failures_and_lagged_turns_are_misses_but_the_warm_up_is_not_judged(tmp_path: Path) -> None:
    start = time.time() - 100
    warm = [turn(start + 5, ttft_ms=9000.0) for _ in range(100)]  # in the warm-up: never judged
    write_rows(tmp_path, warm + [turn(start + 20, lagged=True) for _ in range(3)], start)
    tail = _Tail(tmp_path, SETTINGS.warmup_s, SLO)
    assert tail.clearly_failed(RATE, SETTINGS) == "" and tail.turns == 3
    write_rows(tmp_path, [turn(start + 30, ok=False) for _ in range(3)], start)
    assert tail.clearly_failed(RATE, SETTINGS) == ""  # 3 failures: the window may still hold 322, 1% is 3.2
    write_rows(tmp_path, [turn(start + 31, ok=False)], start)
    assert "above the failure bound" in tail.clearly_failed(RATE, SETTINGS)


def test_the_stop_reason_says_how_many_misses_were_lagged_not_slow(tmp_path: Path) -> None:
    # A load generator starved of CPU fails levels through lagged turns: the user must see that it was the
    # generator, not the engine, before believing "failed".
    start = time.time() - 100
    rows = [turn(start + 20, lagged=True) for _ in range(12)] + [turn(start + 21, ttft_ms=5000.0) for _ in range(5)]
    write_rows(tmp_path, rows, start)
    reason = _Tail(tmp_path, SETTINGS.warmup_s, SLO).clearly_failed(RATE, SETTINGS)
    assert "17 turns missed the TTFT bound (0 failed, 12 lagged, 5 slower)" in reason


def test_a_row_still_being_written_is_read_next_time(tmp_path: Path) -> None:
    start = time.time() - 100
    write_rows(tmp_path, [turn(start + 20)], start)
    with (tmp_path / REQUESTS_CSV).open("a") as file:
        file.write(",".join(["x"] * 5))  # half a row, no newline yet
    tail = _Tail(tmp_path, SETTINGS.warmup_s, SLO)
    tail.clearly_failed(RATE, SETTINGS)
    assert tail.turns == 1


@pytest.mark.parametrize("per_hour", [60.0, 3600.0, 36000.0])
def test_lines_cover_the_conversations_in_progress_at_the_slos_bounds(per_hour: float) -> None:
    in_progress = per_hour / 3600.0 * SETTINGS.slowest_conversation_s
    assert lines_for(per_hour, SETTINGS.slowest_conversation_s) >= in_progress + 3 * in_progress**0.5


def test_a_low_rate_gets_a_window_long_enough_for_its_percentiles() -> None:
    assert Load(conversations_per_hour=36000.0).window_s(SETTINGS) == SETTINGS.window_s
    slow = Load(conversations_per_hour=60.0)  # 4 turns a minute
    assert slow.window_s(SETTINGS) == pytest.approx(MIN_WINDOW_TURNS / (60.0 / 3600.0 * 4.0))
