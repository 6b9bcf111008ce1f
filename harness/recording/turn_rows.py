"""Per-turn and per-conversation records, from every worker to one pair of CSV files.

Workers (and a local runner) buffer rows and send them to the master as a custom message every
couple of seconds and when they stop; the master appends them to `requests.csv` and
`conversations.csv` and keeps per-turn token totals for the web UI. Nothing is written on the hot
path: a turn costs one list append. In local mode `send_message` calls the master's listener
directly, so the same code serves every mode.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from harness.client.turn_result import TurnResult
from harness.recording.lag_probe import LagHistogram
from harness.recording.run_dir import CONVERSATION_COLUMNS, CONVERSATIONS_CSV, REQUEST_COLUMNS, REQUESTS_CSV

MESSAGE = "turnbench_records"
FLUSH_INTERVAL_S = 2.0  # how often workers send rows and the master flushes its files


def request_row(result: TurnResult, context: dict[str, Any], worker: str) -> list[Any]:
    values = {
        **result.to_dict(),
        "conversation_id": context.get("conversation_id", ""),
        "user_class": context.get("user_class", ""),
        "scenario": context.get("scenario", ""),
        "turn": context.get("turn", 0),
        "branch": context.get("branch", 0),
        "branch_kind": context.get("branch_kind", ""),
        "branch_of": context.get("branch_of"),
        "user": context.get("user"),
        "worker": worker,
        "request_id": result.response_id or "",
        "target": context.get("target", ""),
    }
    return [_cell(values.get(column)) for column in REQUEST_COLUMNS]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 3)
    return value


class RecordBuffer:
    """Worker side: rows waiting to be sent."""

    def __init__(self) -> None:
        self.requests: list[list[Any]] = []
        self.conversations: list[list[Any]] = []

    def take(self, lag: LagHistogram | None) -> dict[str, Any] | None:
        if not self.requests and not self.conversations and lag is None:
            return None
        message: dict[str, Any] = {"requests": self.requests, "conversations": self.conversations}
        self.requests, self.conversations = [], []
        if lag is not None:
            sparse, max_ms, cpu = lag.take()
            message["lag"] = {"buckets": sparse, "max_ms": max_ms, "cpu_percent": cpu}
        return message


@dataclass
class TurnTotals:
    requests: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0


class RecordWriter:
    """Master side: appends what workers send; knows how many turns and tokens it has seen."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._requests_file: TextIO = (run_dir / REQUESTS_CSV).open("w", newline="")
        self._conversations_file: TextIO = (run_dir / CONVERSATIONS_CSV).open("w", newline="")
        self._requests = csv.writer(self._requests_file)
        self._conversations = csv.writer(self._conversations_file)
        self._requests.writerow(REQUEST_COLUMNS)
        self._conversations.writerow(CONVERSATION_COLUMNS)
        self.turns: dict[int, TurnTotals] = defaultdict(TurnTotals)
        self.lag = LagHistogram()
        self.closed = False
        self._ok = REQUEST_COLUMNS.index("ok")
        self._turn = REQUEST_COLUMNS.index("turn")
        self._tokens = [REQUEST_COLUMNS.index(c) for c in ("prompt_tokens", "cached_tokens", "completion_tokens")]

    def receive(self, data: dict[str, Any]) -> None:
        if self.closed:
            return
        self._requests.writerows(data.get("requests", ()))
        self._conversations.writerows(data.get("conversations", ()))
        for row in data.get("requests", ()):
            totals = self.turns[int(row[self._turn])]
            totals.requests += 1
            totals.failures += 0 if row[self._ok] else 1
            prompt, cached, completion = (int(row[i] or 0) for i in self._tokens)
            totals.prompt_tokens += prompt
            totals.cached_tokens += cached
            totals.completion_tokens += completion
        if "lag" in data:
            lag = data["lag"]
            self.lag.merge({int(k): v for k, v in lag["buckets"].items()}, lag["max_ms"], lag["cpu_percent"])

    def flush(self) -> None:
        if not self.closed:
            self._requests_file.flush()
            self._conversations_file.flush()

    def close(self) -> None:
        if not self.closed:
            self._requests_file.close()
            self._conversations_file.close()
            self.closed = True

    @property
    def total(self) -> TurnTotals:
        total = TurnTotals()
        for t in self.turns.values():
            total.requests += t.requests
            total.failures += t.failures
        return total


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))
