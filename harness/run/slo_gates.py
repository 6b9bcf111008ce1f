"""SLO gates for scheduled runs: did this run meet its objectives, overall and turn by turn?

Computed from `requests.csv` with the measurement contract's own percentile (nearest rank over
successful turns); the failure rate counts every turn. A gate on a figure that has no samples
(no successful turn) fails, because "nothing measured" never passes an objective.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from harness.client.measurement import percentile

GATES = ("ttft_p95_ms", "e2e_p95_ms", "tpot_p95_ms", "failure_rate")
_COLUMN = {"ttft_p95_ms": "ttft_ms", "e2e_p95_ms": "e2e_ms", "tpot_p95_ms": "tpot_ms"}


@dataclass(frozen=True)
class GateResult:
    gate: str
    scope: str  # "all turns" or "turn 3"
    limit: float
    value: float | None

    @property
    def passed(self) -> bool:
        return self.value is not None and self.value <= self.limit

    def describe(self) -> str:
        shown = "no data" if self.value is None else f"{self.value:.4g}"
        return f"{self.gate} ({self.scope}) {shown} <= {self.limit:g}: {'ok' if self.passed else 'FAILED'}"


def evaluate(requests_csv: Path, slo: dict[str, float], per_turn: bool = False) -> list[GateResult]:
    with requests_csv.open(newline="") as file:
        rows = list(csv.DictReader(file))
    groups: dict[str, list[dict[str, str]]] = {"all turns": rows}
    if per_turn:
        by_turn: dict[int, list[dict[str, str]]] = defaultdict(list)
        for row in rows:
            by_turn[int(row["turn"])].append(row)
        groups.update({f"turn {t}": rs for t, rs in sorted(by_turn.items())})
    results = []
    for scope, group in groups.items():
        for gate in GATES:
            if gate in slo:
                results.append(GateResult(gate, scope, slo[gate], _value(gate, group)))
    return results


def _value(gate: str, rows: list[dict[str, str]]) -> float | None:
    if gate == "failure_rate":
        return sum(r["ok"] != "True" for r in rows) / len(rows) if rows else None
    values = sorted(float(r[_COLUMN[gate]]) for r in rows if r["ok"] == "True" and r[_COLUMN[gate]])
    return percentile(values, 0.95) if values else None


def junit_xml(results: list[GateResult], extra: list[tuple[str, str | None]]) -> str:
    """A JUnit report for CI systems: one test case per gate, plus `extra` (name, failure or None)."""
    from xml.sax.saxutils import quoteattr

    cases = [(f"{r.gate} ({r.scope})", None if r.passed else r.describe()) for r in results] + extra
    failures = sum(1 for _, failure in cases if failure)
    lines = [f'<testsuite name="turnbench" tests="{len(cases)}" failures="{failures}">']
    for name, failure in cases:
        if failure:
            lines.append(f'  <testcase classname="turnbench.slo" name={quoteattr(name)}>'
                         f"<failure message={quoteattr(failure)}/></testcase>")  # fmt: skip
        else:
            lines.append(f'  <testcase classname="turnbench.slo" name={quoteattr(name)}/>')
    lines.append("</testsuite>")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + "\n".join(lines) + "\n"
