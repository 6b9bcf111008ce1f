"""Loading run directories: the files of harness.recording.run_dir, checked, into one `Run` value each.

A run directory is read in one of two modes. Full mode (run.json + requests.csv +
conversations.csv, optionally server_metrics.csv and Locust's CSVs) gives raw per-turn samples.
Locust-CSV-only mode (a folder with locust_stats.csv, maybe locust_stats_history.csv and run.json)
gives only what Locust aggregated; `Run.limits` says what is then missing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from analysis.errors import AnalysisError
from analysis.reading import locust_csv
from analysis.reading.csv_tables import Column, read_table
from analysis.reading.run_json import read_run_json
from harness.recording import run_dir
from harness.recording.run_dir import RunInfo

REQUESTS = (
    Column("conversation_id", "category", required=True),
    Column("turn", "int", required=True),
    Column("started_at", "float", required=True),
    Column("ttft_ms", "float"),
    Column("ttfo_ms", "float"),
    Column("e2e_ms", "float", required=True),
    Column("tpot_ms", "float"),
    Column("itl_p99_ms", "float"),
    Column("prompt_tokens", "float"),
    Column("cached_tokens", "float"),
    Column("completion_tokens", "float"),
    Column("ok", "bool", required=True),
    Column("branch_kind", "category", added_later=True),  # "" first ask; "regenerate" | "edit"
    Column("branch_of", "float", added_later=True),
    Column("connect_ms", "float", added_later=True),
    Column("new_connection", "bool", added_later=True),
    Column("user", "float", added_later=True),
    Column("lag_ms", "float", added_later=True),
    Column("lagged", "bool", added_later=True),
    Column("start_late_ms", "float", added_later=True),  # turn 1 in arrival mode: t0 - its arrival
)
CONVERSATIONS = (
    Column("conversation_id", "str", required=True),
    Column("turns_done", "int", required=True),
    Column("started_at", "float", required=True),
    Column("ended_at", "float"),
    Column("status", "category", required=True),
)
SERVER_METRICS = (
    Column("time", "float", required=True),
    Column("name", "category", required=True),
    Column("value", "float"),
    Column("common", "category"),
)
CONVERSATION_STATUSES = ("complete", "failed", "interrupted")


@dataclass(frozen=True)
class Run:
    """One run against one target, as read from its directory."""

    path: Path
    label: str  # the target's name, made unique among the runs of one report
    info: RunInfo | None  # None only in Locust-CSV-only mode without run.json
    requests: pd.DataFrame | None  # None in Locust-CSV-only mode
    conversations: pd.DataFrame | None
    server_metrics: pd.DataFrame | None
    locust_stats: pd.DataFrame | None
    locust_history: pd.DataFrame | None
    measured_from: float | None = None  # the end of the warm-up, once its turns are left out (run_set.measured)
    parts: tuple[tuple[float, float], ...] = ()  # the measured windows of the runs combined into this one

    @property
    def locust_only(self) -> bool:
        return self.requests is None

    @property
    def target_name(self) -> str:
        return self.info["target"]["name"] if self.info else self.path.name

    @property
    def engine(self) -> str:
        return self.info["target"]["engine"] if self.info else "unknown"

    @property
    def emulated(self) -> bool:
        return bool(self.info and self.info["server"].get("emulator") is True)

    @property
    def limits(self) -> str | None:
        return locust_csv.LIMITS if self.locust_only else None

    def window(self) -> tuple[float, float]:
        """The measured window in epoch seconds: run.json's start and end, else what the files show."""
        start = self.info["started_at"] if self.info else math.nan
        end = self.info["ended_at"] if self.info and self.info["ended_at"] is not None else math.nan
        if self.requests is not None:
            starts = self.requests["started_at"]
            if math.isnan(start):
                start = float(starts.min())
            if math.isnan(end):
                end = float((starts + self.requests["e2e_ms"] / 1000.0).max())
        elif self.locust_history is not None and len(self.locust_history):
            stamps = pd.to_numeric(self.locust_history["Timestamp"], errors="coerce")
            start = float(stamps.min()) if math.isnan(start) else start
            end = float(stamps.max()) if math.isnan(end) else end
        return start, end

    def measured_window(self) -> tuple[float, float]:
        """The window after the warm-up (the whole window when none was left out)."""
        start, end = self.window()
        return (max(start, self.measured_from) if self.measured_from is not None else start), end

    def measured_seconds(self) -> float:
        """Seconds measured: the sum over the runs combined into this one, else its measured window."""
        if self.parts:
            return sum(max(0.0, end - start) for start, end in self.parts)
        start, end = self.measured_window()
        return max(0.0, end - start)


def load_runs(paths: Sequence[Path]) -> list[Run]:
    """Every run directory, in order; labels are target names, suffixed "#2", "#3" when repeated."""
    if not paths:
        raise AnalysisError("no run directory given; pass one or more runs/<run> folders")
    runs = [load_run(path) for path in paths]
    seen: dict[str, int] = {}
    labelled = []
    for run in runs:
        seen[run.target_name] = seen.get(run.target_name, 0) + 1
        label = run.target_name if seen[run.target_name] == 1 else f"{run.target_name} #{seen[run.target_name]}"
        labelled.append(replace(run, label=label))
    return labelled


def load_run(path: Path) -> Run:
    if not path.is_dir():
        raise AnalysisError(f"{path}: no such directory; pass a run directory such as runs/<time>-<target>-<scenario>")
    stats_path, history_path = path / run_dir.LOCUST_STATS_CSV, path / run_dir.LOCUST_HISTORY_CSV
    stats = locust_csv.read_stats(stats_path) if stats_path.exists() else None
    history = locust_csv.read_history(history_path) if history_path.exists() else None
    if (path / run_dir.REQUESTS_CSV).exists():
        info = read_run_json(path / run_dir.RUN_JSON)
        requests = read_table(path / run_dir.REQUESTS_CSV, REQUESTS, "harness.recording.run_dir.REQUEST_COLUMNS")
        conversations = read_table(
            path / run_dir.CONVERSATIONS_CSV,
            CONVERSATIONS,
            "harness.recording.run_dir.CONVERSATION_COLUMNS",
            allow_empty=True,
        )
        _check_statuses(path / run_dir.CONVERSATIONS_CSV, conversations)
        metrics_path = path / run_dir.SERVER_METRICS_CSV
        metrics = (
            read_table(
                metrics_path, SERVER_METRICS, "harness.recording.run_dir.SERVER_METRIC_COLUMNS", allow_empty=True
            )
            if metrics_path.exists() and metrics_path.stat().st_size > 0
            else None
        )
        return Run(path, "", info, requests, conversations, metrics, stats, history)
    if stats is not None:
        found = read_run_json(path / run_dir.RUN_JSON) if (path / run_dir.RUN_JSON).exists() else None
        return Run(path, "", found, None, None, None, stats, history)
    raise AnalysisError(
        f"{path}: no run files; expected {run_dir.RUN_JSON} with {run_dir.REQUESTS_CSV} (a turnbench run) "
        f"or {run_dir.LOCUST_STATS_CSV} (Locust --csv output)"
    )


def _check_statuses(path: Path, conversations: pd.DataFrame) -> None:
    statuses = conversations["status"]
    for value in statuses.cat.categories:
        if value not in CONVERSATION_STATUSES:
            row = int((statuses == value).to_numpy().argmax())
            raise AnalysisError(
                f"{path}: column status: expected one of {', '.join(CONVERSATION_STATUSES)}, "
                f"got {value!r} in row {row + 1}"
            )
