"""Connection figures (analysis/figures/per_target.py): reconnect shares and TTFT without connect time."""

from __future__ import annotations

from pathlib import Path

from analysis.figures.per_target import ConnectionFigures, connection_figures
from analysis.figures.turns import ALL_TURNS, LATER_TURNS, turn_groups
from analysis.reading.load import load_run
from tests.analysis.rundirs import Spec, request_rows, write_run


def connections_of(tmp_path: Path, rows: list[dict[str, object]]) -> dict[str, ConnectionFigures]:
    run = load_run(write_run(tmp_path, Spec(), requests=request_rows(rows)))
    assert run.requests is not None
    return {c.group: c for c in connection_figures(run.requests, turn_groups(run.requests))}


def test_reconnects_are_counted_by_turn_and_taken_out_of_ttft(tmp_path: Path) -> None:
    new, reused = {"new_connection": True}, {"new_connection": False}
    by_group = connections_of(
        tmp_path,
        [
            {"conversation_id": "a", "turn": 1, "ttft_ms": 340.0, "connect_ms": 40.0, **new},
            {"conversation_id": "a", "turn": 2, "ttft_ms": 300.0, **reused},
            {"conversation_id": "a", "turn": 3, "ttft_ms": 500.0, "connect_ms": 100.0, **new},
            # A refused connect: a new connection, failed; counted in the share, not in the latencies.
            {"conversation_id": "a", "turn": 4, "ttft_ms": None, "connect_ms": 1.0, "ok": False, **new},
            {"conversation_id": "b", "turn": 1, "ttft_ms": 360.0, "connect_ms": 60.0, **new},
            {"conversation_id": "b", "turn": 2, "ttft_ms": 320.0, "connect_ms": 20.0, **new},
        ],
    )
    assert list(by_group) == ["1", LATER_TURNS, ALL_TURNS]
    first, later = by_group["1"], by_group[LATER_TURNS]
    assert (first.n, first.new_share, first.connect_p50_ms) == (2, 1.0, 40.0)
    assert (first.ttft_p50_ms, first.ttft_without_connect_p50_ms) == (340.0, 300.0)
    assert (later.n, later.new_share) == (4, 0.75)
    assert (later.connect_p50_ms, later.connect_p95_ms) == (20.0, 100.0)
    # TTFT 300, 500, 320 as measured; 300, 400, 300 without each turn's own connect time.
    assert (later.ttft_p50_ms, later.ttft_p95_ms) == (320.0, 500.0)
    without = (later.ttft_without_connect_p50_ms, later.ttft_without_connect_p95_ms)
    assert without == (300.0, 400.0)


def test_a_run_from_before_connections_were_recorded_has_no_connection_figures(tmp_path: Path) -> None:
    # Empty new_connection cells read as False; but a run that recorded them has a new first turn.
    by_group = connections_of(tmp_path, [{"conversation_id": "a", "turn": 1}, {"conversation_id": "a", "turn": 2}])
    assert by_group == {}
