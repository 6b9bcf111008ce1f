"""Several runs of one target read as one: a comparison's repeats, or a capacity search's levels.

A target's runs are grouped by the target name in run.json. To read them together, their
requests and conversations are concatenated, each row tagged with the run it came from (`run`,
the run directory's name), so an interval can resample runs and conversations as the units. Turns
started during a run's warm-up (run.json load.warmup_s) are left out: they were never judged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import pandas as pd

from analysis.reading.load import Run

RUN_COLUMN = "run"


def by_target(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """Runs grouped by target name, targets in the order they first appear."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.target_name, []).append(run)
    return groups


def warmup_s(run: Run) -> float:
    load = run.info.get("load") if run.info else None
    value = load.get("warmup_s") if isinstance(load, dict) else None
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else 0.0


def measured(run: Run) -> Run:
    """The run without the turns and conversations that started in its warm-up."""
    if run.requests is None or warmup_s(run) <= 0:
        return run
    begin = run.window()[0] + warmup_s(run)
    requests = run.requests[run.requests["started_at"].to_numpy() >= begin].reset_index(drop=True)
    conversations = run.conversations
    if conversations is not None:
        conversations = conversations[conversations["started_at"].to_numpy() >= begin].reset_index(drop=True)
    return replace(run, requests=requests, conversations=conversations, measured_from=begin)


def combined(runs: Sequence[Run]) -> Run:
    """One Run holding every run's measured turns, labelled with the target's name."""
    parts = [measured(run) for run in runs]
    first = parts[0]
    label = first.target_name
    if len(parts) == 1:
        return replace(first, label=label, parts=(first.measured_window(),))
    if any(part.requests is None for part in parts):
        return replace(first, label=label)  # Locust-CSV-only runs cannot be merged: the first one speaks
    requests = pd.concat([_tagged(p.requests, p) for p in parts if p.requests is not None], ignore_index=True)
    conversations = [_tagged(p.conversations, p) for p in parts if p.conversations is not None]
    return replace(
        first,
        label=label,
        requests=_categories(requests),
        conversations=_categories(pd.concat(conversations, ignore_index=True)) if conversations else None,
        server_metrics=None,  # engine gauges of different runs do not add up
        locust_stats=None,
        locust_history=None,
        parts=tuple(p.measured_window() for p in parts),
    )


def _tagged(frame: pd.DataFrame, run: Run) -> pd.DataFrame:
    return frame.assign(**{RUN_COLUMN: run.path.name})


def _categories(frame: pd.DataFrame) -> pd.DataFrame:
    """Concatenating category columns with different categories gives objects: make them categories again."""
    for column in frame.columns:
        if frame[column].dtype == object and column in (RUN_COLUMN, "conversation_id", "branch_kind", "status"):
            frame[column] = frame[column].astype("category")
    return frame
