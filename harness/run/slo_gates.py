"""SLO gates for scheduled runs: did this run meet its objectives, overall and turn by turn?

Computed from `requests.csv` with the measurement contract's own percentile (nearest rank over
successful turns); the failure rate counts every turn. A gate on a figure that has no samples
(no successful turn) fails, because "nothing measured" never passes an objective.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.recording.turn_summary import by_turn, read_turn_rows, summarise
from harness.slo import Slo


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


def evaluate(requests_csv: Path, slo: Slo) -> list[GateResult]:
    rows = read_turn_rows(requests_csv)
    groups = {"all turns": rows}
    if slo.per_turn:
        groups.update({f"turn {turn}": group for turn, group in by_turn(rows).items()})
    results = []
    for scope, group in groups.items():
        summary = summarise(group)
        for gate, limit in slo.bounds.items():
            results.append(GateResult(gate, scope, limit, summary.figure(gate)))
    return results


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
