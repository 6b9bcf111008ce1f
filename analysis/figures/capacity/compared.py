"""Which runs speak for a target, and at which load the targets' turns are compared.

Runs made by one `turnbench compare` (run.json "search" id) are one target's levels or repeats and
are read together; any other run stands for itself, so yesterday's run of a target can still be
compared with today's. Per-turn figures compare like with like: from a capacity search, the runs
at the highest load every target held (the levels of both searches share their first rates), else
the lowest load they all ran; from repeats at one load, all of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from analysis.figures.capacity.estimate import Capacity
from analysis.reading.load import Run
from harness.slo import Slo, SloError


def group_key(run: Run) -> str:
    search = run.info.get("search") if run.info else None
    if isinstance(search, dict) and search.get("id"):
        return f"{search['id']}/{run.target_name}"
    return str(run.path)


def grouped(runs: Sequence[Run]) -> list[list[Run]]:
    """Runs grouped by group_key, groups in the order they first appear."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(group_key(run), []).append(run)
    return list(groups.values())


def load_of(run: Run) -> float | None:
    """The load a run offered, as one number: conversations/hour for arrivals, users for closed loop."""
    load = run.info.get("load") if run.info else None
    if not isinstance(load, dict):
        return None
    value = load.get("conversations_per_hour") if load.get("kind") == "arrivals" else load.get("users")
    return float(value) if isinstance(value, int | float) else None


def compared_runs(
    groups: Sequence[Sequence[Run]], capacities: Mapping[int, Capacity | None]
) -> tuple[list[list[Run]], str]:
    """For each group (by index) the runs its per-turn figures come from, and a phrase saying why."""
    loads = [{load_of(run) for run in group} for group in groups]
    if all(len(found) <= 1 for found in loads):
        return [list(group) for group in groups], ""
    common = {rate for rate in set.intersection(*loads) if rate is not None}
    held = [rate for rate in common if all(_held(capacities.get(i), rate) for i in range(len(groups)))]
    if held:
        rate, why = max(held), "the highest load every target held"
    elif common:
        rate, why = min(common), "the lowest load every target ran (none held at a common load)"
    else:
        return [[group[-1]] for group in groups], "each target's last run (the targets ran no load in common)"
    chosen = [[run for run in group if load_of(run) == rate] for group in groups]
    return chosen, f"at {rate:,.0f} conversations/hour, {why}"


def _held(capacity: Capacity | None, rate: float | None) -> bool:
    if capacity is None or rate is None:
        return False
    return any(math.isclose(level.conversations_per_hour, rate, rel_tol=1e-6) and level.meets_slo
               for level in capacity.levels)  # fmt: skip


def recorded_slo(runs: Sequence[Run]) -> Slo | None:
    """The SLO a capacity search judged its levels by (run.json "search" "slo"), when every run has the same one:
    re-reading a search's runs without --slo judges them as the search did."""
    found = set()
    for run in runs:
        search = run.info.get("search") if run.info else None
        slo = search.get("slo") if isinstance(search, dict) else None
        if not isinstance(slo, dict):
            return None
        found.add(tuple(sorted((k, v) for k, v in slo.items() if v is not None)))
    if len(found) != 1:
        return None
    try:
        return Slo.from_mapping(dict(found.pop()), "run.json search.slo")
    except SloError:
        return None
