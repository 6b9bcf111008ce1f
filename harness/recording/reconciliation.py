"""Nothing lost, and if anything is, it is said: what each process sent against what arrived.

Every load-generating process counts the rows it has sent and puts the running totals in each
records message (turn_rows.RecordBuffer); the master counts, per worker, what arrived and notes
the workers it lost: gone silent (Locust marks them "missing" once heartbeats stop) or still there
when it gave up waiting for them to quit. At the end of a test those counts, the rows requests.csv
holds, the turns conversations.csv accounts for and run.json's `turns` are compared; every
difference is one line in run.json's `reconciliation`, in the summary line and in the report.

A conversation still open when the test stops is written as "interrupted" (ChatUser.on_stop), so
its turns_done counts every turn it sent: on a healthy run the sums match exactly.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from locust.runners import STATE_INIT, STATE_MISSING, STATE_RUNNING, STATE_SPAWNING, MasterRunner

from harness.recording.run_dir import (
    CONVERSATIONS_CSV,
    REQUESTS_CSV,
    LostReason,
    LostWorker,
    Reconciliation,
    WorkerRecords,
)

log = logging.getLogger(__name__)
MISSING_HEARTBEAT: LostReason = "missing heartbeat"
DID_NOT_QUIT: LostReason = "did not quit in time"


@dataclass
class WorkerLedger:
    sent_requests: int | None = None
    sent_conversations: int | None = None
    received_requests: int = 0
    received_conversations: int = 0
    done: bool = False  # it said its users had stopped: nothing left to send


class Ledger:
    """Master side, one per test: per worker, what it said it sent and what arrived; who was lost."""

    def __init__(self) -> None:
        self.workers: dict[str, WorkerLedger] = {}
        self.lost: dict[str, LostReason] = {}
        self._said: set[str] = set()

    def receive(self, data: dict[str, Any]) -> None:
        sent = data.get("sent") or {}
        name = str(sent.get("worker", "unknown"))
        if self.lost.get(name) == MISSING_HEARTBEAT:  # late heartbeats (a busy machine), not a dead worker
            del self.lost[name]
            log.warning("turnbench: %s is sending again after missing heartbeats", name)
        worker = self.workers.setdefault(name, WorkerLedger())
        worker.received_requests += len(data.get("requests", ()))
        worker.received_conversations += len(data.get("conversations", ()))
        if sent:
            worker.sent_requests, worker.sent_conversations = int(sent["requests"]), int(sent["conversations"])
            worker.done = worker.done or bool(sent.get("done"))

    def watch(self, runner: object, gave_up_waiting: bool = False) -> None:
        """Note the workers Locust marks missing (and forget one that came back); after a quit that
        timed out, also those still there."""
        if not isinstance(runner, MasterRunner):
            return
        for client in runner.clients.all:
            name = f"worker-{runner.get_worker_index(client.id)}"
            if client.state == STATE_MISSING:
                self._lose(name, MISSING_HEARTBEAT)
            elif gave_up_waiting and client.state in (STATE_INIT, STATE_SPAWNING, STATE_RUNNING):
                self._lose(name, DID_NOT_QUIT)
            elif self.lost.get(name) == MISSING_HEARTBEAT:
                del self.lost[name]  # its heartbeats came back ("self-healed"); so will its rows

    def _lose(self, name: str, reason: LostReason) -> None:
        if name not in self.lost:
            self.lost[name] = reason
            log.warning("turnbench: %s %s: the rows it had not yet sent are missing from this run", name, reason)

    def lost_workers(self) -> list[LostWorker]:
        return [{"worker": name, "reason": reason} for name, reason in sorted(self.lost.items())]

    def reconcile(self, run_dir: Path, run_json_turns: int, late_rows: int) -> Reconciliation:
        """Compare the counts with the files as written (flushed before this is called)."""
        rows = _count_by_worker(run_dir / REQUESTS_CSV, None)
        turns = _count_by_worker(run_dir / CONVERSATIONS_CSV, "turns_done")
        names = sorted(set(self.workers) | set(self.lost) | set(rows) | set(turns))
        workers = {name: self._worker(name, rows.get(name, 0), turns.get(name, 0)) for name in names}
        differences = [line for name in names for line in _differences(name, workers[name])]
        total_rows, total_turns = sum(rows.values()), sum(turns.values())
        if total_rows != run_json_turns:
            differences.append(f"requests.csv has {_rows(total_rows, 'turn')}, run.json counts {run_json_turns} turns")
        for line in differences:
            if line not in self._said:
                self._said.add(line)
                log.warning("turnbench: records incomplete: %s", line)
        return {
            "complete": not differences,
            "requests_csv_rows": total_rows,
            "conversation_turns": total_turns,
            "run_json_turns": run_json_turns,
            "late_rows": late_rows,
            "workers": workers,
            "differences": differences,
        }

    def _worker(self, name: str, csv_rows: int, conversation_turns: int) -> WorkerRecords:
        ledger = self.workers.get(name, WorkerLedger())
        return {
            "sent_requests": ledger.sent_requests,
            "received_requests": ledger.received_requests,
            "sent_conversations": ledger.sent_conversations,
            "received_conversations": ledger.received_conversations,
            "requests_csv_rows": csv_rows,
            "conversation_turns": conversation_turns,
            # Once its users had stopped it held nothing back; before that, what it held is unknown.
            "unsent_rows": 0 if ledger.done else None,
            "lost": self.lost.get(name),
        }


def _differences(name: str, w: WorkerRecords) -> list[str]:
    lines = []
    if w["unsent_rows"] is None:
        lines.append(
            f"{name} was lost ({w['lost']}): {_rows(w['received_requests'], 'turn')} of its arrived, the rows it "
            "had not yet sent are unknown"
            if w["lost"]
            else f"{name} never said its users had stopped: the rows it had not yet sent are unknown"
        )
    counts = (("turn", w["sent_requests"], w["received_requests"]),
              ("conversation", w["sent_conversations"], w["received_conversations"]))  # fmt: skip
    for what, sent, received in counts:
        if sent is not None and sent != received:
            lines.append(f"{name} said it sent {_rows(sent, what)}, {received} arrived")
    if w["requests_csv_rows"] != w["conversation_turns"]:
        lines.append(
            f"{name}: requests.csv has {_rows(w['requests_csv_rows'], 'turn')}, "
            f"its conversations in conversations.csv account for {w['conversation_turns']}"
        )
    return lines


def _rows(count: int, what: str) -> str:
    return f"{count} {what} row{'' if count == 1 else 's'}"


def _count_by_worker(path: Path, column: str | None) -> dict[str, int]:
    """Rows per worker (column None), or the column summed per worker."""
    counts: dict[str, int] = {}
    if not path.exists():
        return counts
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            worker = row.get("worker") or "unknown"
            counts[worker] = counts.get(worker, 0) + (int(row[column] or 0) if column else 1)
    return counts
