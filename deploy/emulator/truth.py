"""The emulator's ground truth: when it really sent each response's first and last token.

One record per chat request, kept in memory for the `/emulator/truth` endpoint and appended to
a CSV file when asked, requests the emulator left hanging on purpose included: every request it
received is there, with the fault it injected, so a client's records can be checked one for one
against it. Token send lateness against the step schedule goes into a fixed histogram, so the
emulator can say how far its own timing can be trusted at any load.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, TextIO

LATENESS_BUCKET_MS = 0.05  # histogram resolution
LATENESS_BUCKETS = 4000  # up to 200 ms; later sends land in the last bucket
MEMORY_RECORDS = 100_000  # the endpoint keeps at most this many; the CSV keeps everything


@dataclass(slots=True)
class TruthRecord:
    request_id: str
    engine: str
    arrival: float  # time.monotonic(), system-wide on Linux, so comparable with a client's clock
    arrival_wall: float
    first_token_sent: float | None = None
    last_token_sent: float | None = None
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    # The fault really injected (deploy.emulator.faults.KINDS): None when the answer went out whole,
    # also when a fault was drawn but the request was refused first or ended before it could strike.
    fault: str | None = None
    status: int = 200  # 0: no response at all (the connection was closed before any)
    hung: bool = False  # left silent on purpose (a timeout fault): only the client can end it


class Truth:
    def __init__(self, csv_path: Path | None = None) -> None:
        self.records: list[TruthRecord] = []
        self._histogram = [0] * LATENESS_BUCKETS
        self._tokens = 0
        self._max_ms = 0.0
        self._file: TextIO | None = None
        self._writer: Any = None
        if csv_path is not None:
            csv_path.parent.mkdir(parents=True, exist_ok=True)
            self._file = csv_path.open("w", newline="")
            self._writer = csv.DictWriter(self._file, [f.name for f in fields(TruthRecord)])
            self._writer.writeheader()

    def add(self, record: TruthRecord) -> None:
        self.records.append(record)
        if len(self.records) > MEMORY_RECORDS:
            del self.records[: MEMORY_RECORDS // 10]

    def done(self, record: TruthRecord) -> None:
        """The request is over; write its row."""
        if self._writer is not None:
            self._writer.writerow(asdict(record))

    def late(self, ms: float) -> None:
        self._tokens += 1
        if ms > self._max_ms:
            self._max_ms = ms
        self._histogram[min(int(max(ms, 0.0) / LATENESS_BUCKET_MS), LATENESS_BUCKETS - 1)] += 1

    def lateness(self) -> dict[str, float]:
        """Token send lateness against the schedule: p50, p99 (bucket upper bounds) and max, in ms."""
        result = {"tokens": float(self._tokens), "max_ms": self._max_ms}
        for name, q in (("p50_ms", 0.5), ("p99_ms", 0.99)):
            target, seen = math.ceil(q * self._tokens), 0
            for i, count in enumerate(self._histogram):
                seen += count
                if seen >= target:
                    result[name] = (i + 1) * LATENESS_BUCKET_MS
                    break
            else:
                result[name] = 0.0
        return result

    def reset_lateness(self) -> None:
        self._histogram = [0] * LATENESS_BUCKETS
        self._tokens, self._max_ms = 0, 0.0

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
