"""Reading runs/index.csv (harness.recording.run_dir.INDEX_COLUMNS): one row per `turnbench run`, oldest first.

The index is what a nightly schedule leaves behind, so a reader that gave up on one odd row would
end the trend the first night a run could not start. Hence: a missing column or a value that is not
a number is a one-line AnalysisError naming the file, the line and the column (the file is wrong);
a row without a target or a start time (a run that never started, so `turnbench run` had no
run.json to copy them from) is left out and counted; an empty figure is "not measured".
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from analysis.errors import AnalysisError
from harness.recording.run_dir import INDEX_COLUMNS, INDEX_CSV, RUN_JSON

# The figures the trend follows, as index.csv names them.
TRACKED = ("ttft_p95_ms", "e2e_p95_ms", "tpot_p95_ms", "failure_rate", "cached_share")
COMPLETE = "complete"
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


@dataclass(frozen=True)
class IndexedRun:
    """One row of index.csv, with the tracked figures parsed (None: the run did not measure it)."""

    line: int  # in index.csv, for messages
    run_id: str
    run_dir: str
    started_at: float  # epoch seconds
    target: str
    engine: str
    scenario: str
    status: str  # complete, interrupted, failed, or "" when the run left no run.json
    saturated: bool  # the load generator's lag was above its limit: timings may be inflated
    figures: Mapping[str, float | None]  # TRACKED -> value

    @property
    def counts_for_baseline(self) -> bool:
        """Only complete runs with a healthy load generator say what "normal" is."""
        return self.status == COMPLETE and not self.saturated

    @property
    def excluded_because(self) -> str | None:
        if self.saturated:
            return "load generator saturated"
        if self.status != COMPLETE:
            return f"status {self.status or 'unknown'}"
        return None


@dataclass(frozen=True)
class RunIndex:
    path: Path
    runs: tuple[IndexedRun, ...]  # ordered by started_at, then run_id
    left_out: int  # rows without a target or start time


def index_path(runs_dir: Path) -> Path:
    return runs_dir / INDEX_CSV


def read_index(runs_dir: Path) -> RunIndex:
    """RUNS_DIR/index.csv, checked and ordered; AnalysisError when it cannot be read as the contract says."""
    if not runs_dir.is_dir():
        raise AnalysisError(f"{runs_dir}: no such directory; pass the folder `turnbench run --out` writes to")
    path = index_path(runs_dir)
    try:
        with path.open(newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            header = reader.fieldnames
            if not header:
                raise AnalysisError(f"{path}: empty; `turnbench run --out {runs_dir}` appends one row per run")
            for column in INDEX_COLUMNS:
                if column not in header:
                    raise AnalysisError(
                        f"{path}: missing column {column!r}; "
                        "expected the columns of harness.recording.run_dir.INDEX_COLUMNS"
                    )
            rows = [(reader.line_num, row) for row in reader]
    except FileNotFoundError:
        raise AnalysisError(
            f"{path}: missing; `turnbench run --out {runs_dir}` appends one row per run to it"
        ) from None
    except UnicodeDecodeError as exc:
        raise AnalysisError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise AnalysisError(f"{path}: cannot read: {exc.strerror or exc}") from None
    runs: list[IndexedRun] = []
    left_out = 0
    for line, row in rows:
        if not (row.get("target") or "").strip() or not (row.get("started_at") or "").strip():
            left_out += 1
            continue
        runs.append(_parse_row(path, line, row))
    if not runs:
        raise AnalysisError(f"{path}: no runs recorded yet; run `turnbench run --out {runs_dir}` first")
    runs.sort(key=lambda run: (run.started_at, run.run_id))
    return RunIndex(path, tuple(runs), left_out)


def _parse_row(path: Path, line: int, row: Mapping[str, str | None]) -> IndexedRun:
    def text(column: str) -> str:
        return (row.get(column) or "").strip()

    def number(column: str) -> float | None:
        value = text(column)
        if not value:
            return None
        try:
            parsed = float(value)
        except ValueError:
            raise AnalysisError(f"{path} line {line}: column {column!r}: {value!r} is not a number") from None
        return parsed if math.isfinite(parsed) else None

    started_at = number("started_at")
    if started_at is None:
        raise AnalysisError(f"{path} line {line}: column 'started_at': expected epoch seconds")
    saturated = text("saturated").lower()
    if saturated not in _TRUE + _FALSE:
        raise AnalysisError(f"{path} line {line}: column 'saturated': expected True or False, got {saturated!r}")
    return IndexedRun(
        line=line,
        run_id=text("run_id") or f"line {line}",
        run_dir=text("run_dir"),
        started_at=started_at,
        target=text("target"),
        engine=text("engine"),
        scenario=text("scenario") or "?",
        status=text("status"),
        saturated=saturated in _TRUE,
        figures={name: number(name) for name in TRACKED},
    )


def is_emulated(runs_dir: Path, run: IndexedRun) -> bool:
    """Whether the run's run.json says its server was the emulator (False when the directory is gone).

    index.csv records run_dir as `turnbench run` was given it (often relative to where it ran), so
    the directory is looked for under RUNS_DIR first, then as written.
    """
    if not run.run_dir:
        return False
    written = Path(run.run_dir)
    for candidate in (runs_dir / written.name, written):
        try:
            info = json.loads((candidate / RUN_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        server = info.get("server") if isinstance(info, dict) else None
        return isinstance(server, dict) and server.get("emulator") is True
    return False
