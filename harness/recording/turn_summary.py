"""requests.csv summed up the one way `turnbench run` judges it: its gates, its summary line, runs/index.csv.

Latency figures are the measurement contract's nearest-rank percentiles over successful turns
whose timings are trusted: a turn during which the load generator's event loop stalled beyond its
limit (`lagged`) is left out of them, as the report leaves it out. The failure rate counts every
turn. The cached share follows the one cached-token rule (harness.recording.cached_rule). A figure
with no samples is None ("nothing measured"), which never passes a gate. The analysis stage reads
the same file with pandas for its richer figures, with the same rules.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from harness.client.measurement import percentile
from harness.recording import cached_rule

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
    cached_share: float | None  # cached / prompt tokens of successful turns with prompt tokens
    lagged: int = 0  # turns left out of the latency figures because the load generator lagged

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
    """First asks by turn number. A branch (regenerate, edit) resends an earlier, mostly cached
    prompt under the next number, so it is judged with all turns only, as the report does."""
    turns: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        if not row.get("branch_kind"):
            turns[int(row["turn"])].append(row)
    return dict(sorted(turns.items()))


def summarise(rows: list[Row]) -> TurnSummary:
    ok = [row for row in rows if row["ok"] == "True"]
    timed = [row for row in ok if row.get("lagged") != "True"]  # runs before the column read as not lagged

    def p(column: str, q: float) -> float | None:
        values = sorted(float(row[column]) for row in timed if row[column])
        return percentile(values, q) if values else None

    counted = [row for row in ok if cached_rule.counts(True, row["prompt_tokens"])]
    # float: a requests.csv written back by pandas says 2000.0 where the harness wrote 2000
    prompt = sum(float(row["prompt_tokens"]) for row in counted)
    cached = sum(float(row["cached_tokens"] or 0) for row in counted)
    reported = any(row["cached_tokens"] for row in rows)
    return TurnSummary(
        turns=len(rows),
        failure_rate=(len(rows) - len(ok)) / len(rows) if rows else None,
        ttft_p50_ms=p("ttft_ms", 0.50),
        ttft_p95_ms=p("ttft_ms", 0.95),
        e2e_p50_ms=p("e2e_ms", 0.50),
        e2e_p95_ms=p("e2e_ms", 0.95),
        tpot_p95_ms=p("tpot_ms", 0.95),
        cached_share=cached_rule.share(cached, prompt, reported),
        lagged=len(ok) - len(timed),
    )
