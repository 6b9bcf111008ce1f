"""What each target's runs started from: a flushed prefix cache, salted prompts, or whatever the cache held.

A run measured warm (its prompts' prefixes cached by an earlier run, or by someone else) has a faster
first turn and a higher cached share than a new conversation gets. `turnbench compare` flushes a
target's cache before each run and salts the prompts of a run whose flush did not happen (run.json
`cache_flushed`, `cache_flush`, `cache_salt`). This says per target, in one line, what its runs got,
and warns about every run that got neither. Runs recorded before these keys are "not recorded".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.errors import AnalysisError
from analysis.figures.caveats import Caveat
from analysis.figures.findings import Findings
from analysis.figures.per_target import TargetAnalysis
from analysis.reading.run_json import read_run_json
from harness.recording.run_dir import RUN_JSON

FLUSHED, SALTED, BOTH, NEITHER, NOT_RECORDED = "flushed", "salted", "flushed and salted", "neither", "not recorded"
STATES = (FLUSHED, BOTH, SALTED, NEITHER, NOT_RECORDED)  # in the order the line lists them


@dataclass(frozen=True)
class CacheStart:
    """How one target's runs started: runs per state, and the flush results of the runs not flushed."""

    label: str
    states: Mapping[str, int]
    flush_results: tuple[str, ...]  # e.g. ("busy", "unsupported"): why the flush did not happen

    @property
    def runs(self) -> int:
        return sum(self.states.values())

    def line(self) -> str:
        """E.g. "cache at start (4 runs): 3 flushed, 1 salted; flush busy"."""
        counts = ", ".join(f"{self.states[state]} {state}" for state in STATES if self.states.get(state))
        why = f"; flush {', '.join(self.flush_results)}" if self.flush_results else ""
        return f"cache at start ({self.runs} run{'' if self.runs == 1 else 's'}): {counts}{why}"

    def warning(self) -> Caveat | None:
        neither = self.states.get(NEITHER, 0)
        if not neither:
            return None
        why = f" (flush {', '.join(self.flush_results)})" if self.flush_results else ""
        return Caveat(
            "cache_not_reset",
            (self.label,),
            f"{self.label}: {neither} of {self.runs} runs started from whatever the prefix cache held, neither "
            f"flushed{why} nor salted: their first turns may be measured warm. `turnbench compare` flushes or "
            "salts every run; a single run can pass --cache-salt auto to Locust.",
        )

    def as_dict(self) -> dict[str, Any]:
        """summary.json's `cache_start` of a target."""
        return {"runs": self.runs, **{state.replace(" ", "_"): self.states.get(state, 0) for state in STATES},
                "flush_results": list(self.flush_results)}  # fmt: skip


def run_state(info: Mapping[str, Any]) -> str:
    """One run's start: flushed, salted, both, neither, or not recorded (a run from before these keys)."""
    salt = info.get("cache_salt")
    flushed = info.get("cache_flushed") is True
    salted = isinstance(salt, Mapping) and salt.get("on") is True
    if flushed:
        return BOTH if salted else FLUSHED
    if salted:
        return SALTED
    return NEITHER if "cache_flushed" in info or "cache_salt" in info else NOT_RECORDED


def cache_start(target: TargetAnalysis) -> CacheStart:
    infos = _run_infos(target)
    results = []
    for info in infos:
        flush = info.get("cache_flush")
        if info.get("cache_flushed") is not True and isinstance(flush, Mapping) and flush.get("result"):
            results.append(str(flush["result"]))
    return CacheStart(target.label, Counter(run_state(info) for info in infos), tuple(sorted(set(results))))


def warnings(findings: Findings) -> list[Caveat]:
    return [w for w in (cache_start(t).warning() for t in findings.targets) if w is not None]


def _run_infos(target: TargetAnalysis) -> Sequence[Mapping[str, Any]]:
    """run.json of every run of the target: the one it is read as, and each of its load levels' runs."""
    run = target.run
    paths = [run.path]
    if target.capacity is not None:
        paths += [Path(level.run_dir) for level in target.capacity.levels if level.run_dir]
    infos: list[Mapping[str, Any]] = []
    for path in dict.fromkeys(paths):  # each once, in order
        if path == run.path:
            if run.info is not None:
                infos.append(run.info)
            continue
        try:
            infos.append(read_run_json(path / RUN_JSON))
        except AnalysisError:  # a level read from Locust's CSVs alone has none
            continue
    return infos
