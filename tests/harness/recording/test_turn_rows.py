"""The record sink (harness/recording/turn_rows.py): no row is dropped on the way to the run directory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from harness.client.turn_result import TurnResult
from harness.recording.lag_probe import LagHistogram
from harness.recording.run_dir import CONVERSATION_COLUMNS, REQUEST_COLUMNS, ArrivalCounts
from harness.recording.turn_rows import RecordBuffer, RecordWriter, request_row
from harness.recording.turn_summary import read_turn_rows


def turn_row(request_id: str, worker: str = "local", turn: int = 1) -> list[Any]:
    values = {"conversation_id": f"{worker}-c1", "turn": turn, "ok": True, "worker": worker, "request_id": request_id}
    return [values.get(column, "") for column in REQUEST_COLUMNS]


def conversation_row(worker: str, turns: int) -> list[Any]:
    values = {"conversation_id": f"{worker}-c1", "worker": worker, "turns_done": turns, "status": "interrupted"}
    return [values.get(column, "") for column in CONVERSATION_COLUMNS]


class FlakyMaster:
    """What the transport does: delivers a message, or fails the first `failures` sends."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.delivered: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("master unreachable")
        self.delivered.append(message)


def test_a_failed_send_keeps_its_rows_for_the_next_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    buffer, master, lag = RecordBuffer(), FlakyMaster(failures=2), LagHistogram()
    buffer.requests += [turn_row("a"), turn_row("b")]
    lag.add(3.0)
    with caplog.at_level(logging.WARNING):
        assert buffer.ship(master.send, "worker-0", lag) is False
        buffer.requests.append(turn_row("c"))
        assert buffer.ship(master.send, "worker-0", lag) is False
    buffer.conversations.append(conversation_row("worker-0", 3))
    assert buffer.ship(master.send, "worker-0", lag, done=True) is True
    (message,) = master.delivered
    assert [row[REQUEST_COLUMNS.index("request_id")] for row in message["requests"]] == ["a", "b", "c"]
    assert message["sent"] == {"worker": "worker-0", "requests": 3, "conversations": 1, "done": True}
    assert message["lag"]["buckets"] == {30: 1}  # the lag sample survived the failures too
    assert [r.getMessage() for r in caplog.records].count(
        "turnbench: sending records to the master failed (master unreachable); keeping them, retrying"
    ) == 1
    buffer.requests.append(turn_row("d"))
    buffer.ship(master.send, "worker-0", None)
    assert master.delivered[-1]["sent"]["requests"] == 4  # running totals: the master compares the last


def test_rows_that_arrive_after_close_are_appended_and_counted(tmp_path: Path) -> None:
    writer = RecordWriter(tmp_path)
    sent = {"worker": "worker-0", "requests": 2, "conversations": 0, "done": False}
    writer.receive({"requests": [turn_row("a", "worker-0"), turn_row("b", "worker-0", 2)], "sent": sent})
    writer.close()
    late = {"worker": "worker-0", "requests": 3, "conversations": 1, "done": True}
    writer.receive(
        {"requests": [turn_row("c", "worker-0", 3)], "conversations": [conversation_row("worker-0", 3)], "sent": late}
    )
    writer.close()
    assert [row["request_id"] for row in read_turn_rows(tmp_path / "requests.csv")] == ["a", "b", "c"]
    assert [row["turns_done"] for row in read_turn_rows(tmp_path / "conversations.csv")] == ["3"]
    assert writer.total.requests == 3 and writer.late_rows == 2
    reconciliation = writer.reconcile()
    assert reconciliation["late_rows"] == 2 and reconciliation["differences"] == []
    assert reconciliation["complete"] is True


def test_what_did_not_arrive_is_one_line_each(tmp_path: Path) -> None:
    writer = RecordWriter(tmp_path)
    # worker-0 said it sent 3 turn rows and stopped, but only 2 arrived; worker-1 never said it stopped.
    writer.receive(
        {"requests": [turn_row("a", "worker-0"), turn_row("b", "worker-0", 2)],
         "conversations": [conversation_row("worker-0", 3)],
         "sent": {"worker": "worker-0", "requests": 3, "conversations": 1, "done": True}}
    )  # fmt: skip
    writer.receive(
        {"requests": [turn_row("c", "worker-1")], "sent": {"worker": "worker-1", "requests": 1, "conversations": 0}}
    )
    reconciliation = writer.reconcile()
    assert reconciliation["complete"] is False
    assert reconciliation["differences"] == [
        "worker-0 said it sent 3 turn rows, 2 arrived",
        "worker-0: requests.csv has 2 turn rows, its conversations in conversations.csv account for 3",
        "worker-1 never said its users had stopped: the rows it had not yet sent are unknown",
        "worker-1: requests.csv has 1 turn row, its conversations in conversations.csv account for 0",
    ]
    assert reconciliation["workers"]["worker-0"]["unsent_rows"] == 0
    assert reconciliation["workers"]["worker-1"]["unsent_rows"] is None


def test_a_first_turn_in_arrival_mode_says_how_late_it_started_and_the_counts_travel_with_the_rows(
    tmp_path: Path,
) -> None:
    result = TurnResult(
        started_at=100.25, started_monotonic=1.0, ttft_ms=20.0, ttfo_ms=20.0, e2e_ms=50.0, tpot_ms=2.0,
        itl_p50_ms=2.0, itl_p99_ms=2.0, itl_max_ms=2.0, prompt_tokens=100, cached_tokens=None, completion_tokens=16,
        finish_reason="stop", content="an answer", reasoning="", events=18, token_events=16, http_status=200,
        response_id="chatcmpl-1",
    )  # fmt: skip
    late_at = REQUEST_COLUMNS.index("start_late_ms")
    assert request_row(result, {"turn": 1, "arrival": 100.0}, "local")[late_at] == 250.0
    assert request_row(result, {"turn": 1, "arrival": 100.2500001}, "local")[late_at] == 0.0  # never below 0
    assert request_row(result, {"turn": 2}, "local")[late_at] == ""  # later turns and closed loop: empty

    buffer, master, writer = RecordBuffer(), FlakyMaster(failures=1), RecordWriter(tmp_path)
    counts: ArrivalCounts = {"due": 3, "started": 2, "late": 1, "lines": 4}
    assert buffer.ship(master.send, "worker-1", LagHistogram(), arrivals=counts) is False
    assert buffer.ship(master.send, "worker-1", LagHistogram(), arrivals={**counts, "due": 5}) is True
    for message in master.delivered:
        writer.receive(message)
    writer.receive({"requests": [], "sent": {"worker": "worker-0", "requests": 0, "conversations": 0},
                    "arrivals": counts})  # fmt: skip
    assert writer.arrivals == {"worker-1": {**counts, "due": 5}, "worker-0": counts}  # each process's latest
