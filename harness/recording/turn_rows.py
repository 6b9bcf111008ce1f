"""Per-turn and per-conversation records, from every worker to one pair of CSV files.

Workers (and a local runner) buffer rows and send them to the master as a custom message every
couple of seconds and when they stop; the master appends them to `requests.csv` and
`conversations.csv` and keeps per-turn token totals for the web UI. Nothing is written on the hot
path: a turn costs one list append. In local mode `send_message` calls the master's listener
directly, so the same code serves every mode. No row is dropped on the way: a send that fails
keeps its rows for the next, each message carries the sender's running count of rows sent, and
rows that reach the master after it closed its files are appended and counted
(harness.recording.reconciliation says what, if anything, went missing).
"""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from harness.client.turn_result import TurnResult
from harness.recording.cached_rule import UNKNOWN, CachedRule, counts
from harness.recording.lag_probe import LagHistogram
from harness.recording.reconciliation import Ledger
from harness.recording.run_dir import (
    CONVERSATION_COLUMNS,
    CONVERSATIONS_CSV,
    REQUEST_COLUMNS,
    REQUESTS_CSV,
    ArrivalCounts,
    Reconciliation,
)

log = logging.getLogger(__name__)
MESSAGE = "turnbench_records"
FLUSH_INTERVAL_S = 2.0  # how often workers send rows and the master flushes its files
# RecordWriter.turns' key for branches (a regenerate or edit resends an earlier prompt): first asks
# are keyed by their turn number, branches kept apart so they do not mix into the turn after them.
BRANCHES = "branches"


def request_row(result: TurnResult, context: dict[str, Any], worker: str) -> list[Any]:
    arrival = context.get("arrival")  # turn 1 in arrival mode: when the conversation was due to start
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
        "start_late_ms": None if arrival is None else max(0.0, (result.started_at - arrival) * 1000.0),
    }
    return [_cell(values.get(column)) for column in REQUEST_COLUMNS]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 3)
    return value


class RecordBuffer:
    """Worker side: rows waiting to be sent, and how many have been sent this test."""

    def __init__(self) -> None:
        self.requests: list[list[Any]] = []
        self.conversations: list[list[Any]] = []
        self.sent_requests = 0
        self.sent_conversations = 0
        self._warned = False

    def restart(self) -> None:
        """A new test: the master counts what arrives afresh, so the sender does too."""
        self.sent_requests = self.sent_conversations = 0

    def ship(
        self,
        send: Callable[[dict[str, Any]], None],
        worker: str,
        lag: LagHistogram | None,
        done: bool = False,
        arrivals: ArrivalCounts | None = None,
    ) -> bool:
        """Send what waits, with the running counts (`done`: the users have stopped, nothing more
        will come) and, in arrival mode, this test's arrival counts so far (running totals too, so
        a failed send loses nothing). A send that fails keeps its rows and lag samples for the next
        try: a master that is slow or briefly unreachable costs time, never rows."""
        message = self.take(lag)
        if message is None:
            return True
        if arrivals is not None:
            message["arrivals"] = arrivals
        requests, conversations = message["requests"], message["conversations"]
        sent = (self.sent_requests + len(requests), self.sent_conversations + len(conversations))
        message["sent"] = {"worker": worker, "requests": sent[0], "conversations": sent[1], "done": done}
        try:
            send(message)
        except Exception as exc:
            self.requests[:0], self.conversations[:0] = requests, conversations
            if lag is not None and "lag" in message:
                lag.merge(message["lag"]["buckets"], message["lag"]["max_ms"], message["lag"]["cpu_percent"])
            if not self._warned:
                self._warned = True
                log.warning("turnbench: sending records to the master failed (%s); keeping them, retrying", exc)
            return False
        self.sent_requests, self.sent_conversations = sent
        return True

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
    # Token sums over the turns the cached share counts (harness.recording.cached_rule.counts).
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    cached_reports: int = 0  # turns that reported a cached figure: none in the run, no share


class RecordWriter:
    """Master side: appends what workers send; knows how many turns and tokens it has seen."""

    def __init__(self, run_dir: Path, cached_rule: CachedRule = UNKNOWN) -> None:
        self.run_dir = run_dir
        self.cached_rule = cached_rule  # the server's (plugin.start_run), refined by the turns seen
        self._open("w")
        self._requests.writerow(REQUEST_COLUMNS)
        self._conversations.writerow(CONVERSATION_COLUMNS)
        self.turns: dict[int | str, TurnTotals] = defaultdict(TurnTotals)  # turn number, or BRANCHES
        self.lag = LagHistogram()
        self.ledger = Ledger()
        self.late_rows = 0  # rows that arrived after close(): appended all the same
        self.arrivals: dict[str, ArrivalCounts] = {}  # arrival mode: each process's latest counts
        self._ok = REQUEST_COLUMNS.index("ok")
        self._turn = REQUEST_COLUMNS.index("turn")
        self._branch_kind = REQUEST_COLUMNS.index("branch_kind")
        self._tokens = [REQUEST_COLUMNS.index(c) for c in ("prompt_tokens", "cached_tokens", "completion_tokens")]

    def _open(self, mode: Literal["w", "a"]) -> None:
        self._requests_file: TextIO = (self.run_dir / REQUESTS_CSV).open(mode, newline="")
        self._conversations_file: TextIO = (self.run_dir / CONVERSATIONS_CSV).open(mode, newline="")
        self._requests = csv.writer(self._requests_file)
        self._conversations = csv.writer(self._conversations_file)
        self.closed = False

    def receive(self, data: dict[str, Any]) -> None:
        late = len(data.get("requests", ())) + len(data.get("conversations", ())) if self.closed else 0
        if late:  # a straggler (a worker's last message after the run was closed)
            self._open("a")
            self.late_rows += late
        self.ledger.receive(data)
        if "arrivals" in data:
            self.arrivals[str((data.get("sent") or {}).get("worker", "unknown"))] = data["arrivals"]
        self._apply_cached_rule(data.get("requests", ()))
        if not self.closed:
            self._requests.writerows(data.get("requests", ()))
            self._conversations.writerows(data.get("conversations", ()))
        for row in data.get("requests", ()):
            totals = self.turns[BRANCHES if row[self._branch_kind] else int(row[self._turn])]
            totals.requests += 1
            totals.failures += 0 if row[self._ok] else 1
            if counts(bool(row[self._ok]), row[self._tokens[0]]):
                prompt, cached, completion = (int(row[i] or 0) for i in self._tokens)
                totals.prompt_tokens += prompt
                totals.cached_tokens += cached
                totals.completion_tokens += completion
                totals.cached_reports += row[self._tokens[1]] != ""
        if "lag" in data:
            lag = data["lag"]
            self.lag.merge({int(k): v for k, v in lag["buckets"].items()}, lag["max_ms"], lag["cpu_percent"])

    def _apply_cached_rule(self, rows: list[list[Any]]) -> None:
        """cached_tokens as requests.csv records it: by the one rule, learning from these rows."""
        prompt_at, cached_at = self._tokens[0], self._tokens[1]
        rule = self.cached_rule = self.cached_rule.learned(any(row[cached_at] != "" for row in rows))
        for row in rows:
            figure = rule.cached(bool(row[self._ok]), _count(row[prompt_at]), _count(row[cached_at]))
            row[cached_at] = "" if figure is None else figure

    def flush(self) -> None:
        if not self.closed:
            self._requests_file.flush()
            self._conversations_file.flush()

    def close(self) -> None:
        if not self.closed:
            self._requests_file.close()
            self._conversations_file.close()
            self.closed = True

    def reconcile(self) -> Reconciliation:
        """What arrived against what was sent and what the files hold (flushed first)."""
        self.flush()
        return self.ledger.reconcile(self.run_dir, self.total.requests, self.late_rows)

    @property
    def total(self) -> TurnTotals:
        total = TurnTotals()
        for t in self.turns.values():
            total.requests += t.requests
            total.failures += t.failures
        return total


def _count(cell: Any) -> int | None:
    return None if cell == "" else int(cell)
