"""requests.csv summed up the one way `turnbench run` judges it: its gates, its summary line, runs/index.csv.

Latency figures are the measurement contract's nearest-rank percentiles over successful turns;
the failure rate counts every turn. A figure with no samples is None ("nothing measured"), which
never passes a gate. The analysis stage reads the same file with pandas for its richer figures,
with the same percentile rule.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from harness.client.measurement import percentile

Row = dict[str, str]


@dataclass(frozen=True)
class TurnSummary:
    turns: int
    failure_rate: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    e2e_p50_ms: float | None
    e2e_p95_ms: float | None
    tpot_p95_ms: float | None
    cached_share: float | None  # cached / prompt tokens of successful turns

    def figure(self, name: str) -> float | None:
        """A figure by its SLO key (`ttft_p95_ms`, `failure_rate`, ...)."""
        value: float | None = getattr(self, name)
        return value


def read_turn_rows(requests_csv: Path) -> list[Row]:
    """The rows of requests.csv as text; none when the run wrote no file."""
    if not requests_csv.exists():
        return []
    with requests_csv.open(newline="") as file:
        return list(csv.DictReader(file))


def by_turn(rows: list[Row]) -> dict[int, list[Row]]:
    turns: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        turns[int(row["turn"])].append(row)
    return dict(sorted(turns.items()))


def summarise(rows: list[Row]) -> TurnSummary:
    ok = [row for row in rows if row["ok"] == "True"]

    def p(column: str, q: float) -> float | None:
        values = sorted(float(row[column]) for row in ok if row[column])
        return percentile(values, q) if values else None

    prompt = sum(int(row["prompt_tokens"] or 0) for row in ok)
    return TurnSummary(
        turns=len(rows),
        failure_rate=(len(rows) - len(ok)) / len(rows) if rows else None,
        ttft_p50_ms=p("ttft_ms", 0.50),
        ttft_p95_ms=p("ttft_ms", 0.95),
        e2e_p50_ms=p("e2e_ms", 0.50),
        e2e_p95_ms=p("e2e_ms", 0.95),
        tpot_p95_ms=p("tpot_ms", 0.95),
        cached_share=sum(int(row["cached_tokens"] or 0) for row in ok) / prompt if prompt else None,
    )
