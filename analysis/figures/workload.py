"""The workload a run offered, and how the workloads of compared runs differ.

A comparison measures the engines only when everything else was the same: the scenario (what the
people ask, how long they think, how long the answers are), its seed (which conversations), the load
(how many people, or how many conversations arriving per hour), the token limits and the turnbench
version. `differences` says, one line per thing that differs, which runs differ and how; the
caller refuses the comparison or warns on every page.

The load is read from run.json's "load" (written by runs from this version on); older runs give
the users of their Locust options, and their think-time scale and token limits are unknown. A
capacity search compares runs at different loads on purpose, so `same_load=False` leaves the load
out. Runs with only Locust's CSVs (no run.json) have no known workload at all; that is said once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from analysis.reading.load import Run

# run.json "scenario" keys that describe where or how this machine loaded the scenario, not what
# the people do: left out of the digest so the same scenario compares equal from any checkout.
VOLATILE_SCENARIO_KEYS = ("name", "seed", "source", "tokenizer_description", "error")
DIGEST_CHARS = 10  # of a SHA-256: enough to tell scenarios apart, short enough to read

LOAD_FIELDS = ("load_kind", "users", "conversations_per_hour", "think_time_scale")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Workload:
    """What a run offered the engine. None: not recorded (an older run.json, or none at all)."""

    recorded: bool  # False: no run.json (Locust-CSV-only), every field below is None
    scenario: str | None
    scenario_digest: str | None  # run.json "scenario" minus VOLATILE_SCENARIO_KEYS, hashed
    seed: int | None
    load_kind: str | None  # "arrivals" | "users" | "shape"
    users: int | None  # closed-loop users (arrival mode: lines, not part of the load)
    conversations_per_hour: float | None  # arrival mode only
    think_time_scale: float | None
    max_tokens: int | None  # 0: the scenario's
    min_tokens: int | None  # -1: the scenario's
    turnbench_version: str | None
    # The digested keys, to name the ones that differ; the digest stands for them in comparisons.
    scenario_items: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)


UNRECORDED = Workload(False, None, None, None, None, None, None, None, None, None, None)


def workload_of(run: Run) -> Workload:
    """The run's workload, from its run.json; UNRECORDED for a run without one (Locust-CSV-only)."""
    info: Mapping[str, Any] | None = run.info
    if info is None:
        return UNRECORDED
    scenario: Mapping[str, Any] = info.get("scenario") or {}
    items = tuple(
        sorted(
            (key, json.dumps(value, sort_keys=True, default=str))
            for key, value in scenario.items()
            if key not in VOLATILE_SCENARIO_KEYS
        )
    )
    # "error": the master could not build the scenario, so what the users ran is not described.
    digest = None if "error" in scenario else hashlib.sha256(json.dumps(items).encode()).hexdigest()[:DIGEST_CHARS]
    load: Mapping[str, Any] = info.get("load") or {}
    locust: Mapping[str, Any] = info.get("locust") or {}
    kind = load.get("kind") or ("shape" if locust.get("shape") else "users")
    return Workload(
        recorded=True,
        scenario=_text(scenario.get("name")),
        scenario_digest=digest,
        seed=_whole(scenario.get("seed")),
        load_kind=kind,
        users=_whole(load.get("users", locust.get("num_users", locust.get("users")))),
        conversations_per_hour=_number(load.get("conversations_per_hour")),
        think_time_scale=_number(load.get("think_time_scale")),
        max_tokens=_whole(load.get("max_tokens")),
        min_tokens=_whole(load.get("min_tokens")),
        turnbench_version=_text(info.get("turnbench_version")),
        scenario_items=items if digest else (),
    )


def differences(runs: Sequence[Run], same_load: bool) -> list[str]:
    """One line per field in which the runs' workloads differ, naming the runs and the values
    ("seed: vllm 3 vs sglang 4"). Empty: the same workload, as far as the runs say (`unchecked` says
    what they do not say)."""
    return _check(runs, same_load)[0]


def unchecked(runs: Sequence[Run], same_load: bool) -> list[str]:
    """A line for fields some runs did not record, and one for runs without run.json: not refused, but said."""
    return _check(runs, same_load)[1]


def _check(runs: Sequence[Run], same_load: bool) -> tuple[list[str], list[str]]:
    lines: list[str] = []
    unknown: list[str] = []
    workloads = [(_name(run), workload_of(run)) for run in runs]
    known = [(label, w) for label, w in workloads if w.recorded]
    blind = [label for label, w in workloads if not w.recorded]
    if blind:
        unknown.append(
            f"workload unknown for {', '.join(blind)} (Locust's CSVs only, no run.json): scenario, seed, load, "
            "token limits and turnbench version cannot be checked"
        )
    compared = ["scenario", "seed", *(LOAD_FIELDS if same_load else ()), "max_tokens", "min_tokens"]
    compared.append("turnbench_version")
    unrecorded: dict[tuple[str, ...], list[str]] = {}
    for name in compared:
        values = [(label, _value(w, name)) for label, w in known if _applies(w, name)]
        recorded = [(label, value) for label, value in values if value is not None]
        missing = tuple(label for label, value in values if value is None)
        if recorded and missing:
            unrecorded.setdefault(missing, []).append(name)
        groups: dict[str, list[str]] = {}
        for label, value in recorded:
            groups.setdefault(value, []).append(label)
        if len(groups) > 1:
            line = f"{name}: " + " vs ".join(f"{', '.join(labels)} {value}" for value, labels in groups.items())
            if name == "scenario":
                line += _scenario_detail([w for _, w in known])
            lines.append(line)
    for missing, names in unrecorded.items():
        unknown.append(f"{', '.join(names)}: {UNKNOWN} for {', '.join(missing)} (not in its run.json)")
    return lines, unknown


def _value(workload: Workload, name: str) -> str | None:
    """The field as a line shows it; None when not recorded."""
    if name == "scenario":
        if workload.scenario is None:
            return None
        return f"{workload.scenario} ({workload.scenario_digest or 'not described'})"
    value = getattr(workload, name)
    if value is None:
        return None
    return f"{value:g}/h" if name == "conversations_per_hour" else str(value)


def _applies(workload: Workload, name: str) -> bool:
    """Users count for closed-loop loads, the arrival rate for arrival loads."""
    if name == "users":
        return workload.load_kind != "arrivals"
    if name == "conversations_per_hour":
        return workload.load_kind == "arrivals"
    return True


def _scenario_detail(workloads: Sequence[Workload]) -> str:
    """Which described keys differ, when the scenarios share a name (the digest alone says nothing)."""
    described = [dict(w.scenario_items) for w in workloads if w.scenario_items]
    keys = sorted({key for items in described for key in items})
    differing = [key for key in keys if len({items.get(key) for items in described}) > 1]
    return f" ({', '.join(differing)} differ)" if differing else ""


def _name(run: Run) -> str:
    return run.label or run.path.name


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _whole(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
