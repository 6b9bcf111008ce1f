"""The workload of a run, and how compared runs' workloads differ (analysis/figures/workload.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from analysis.figures.workload import Workload, differences, unchecked, workload_of
from analysis.reading.load import Run, load_runs
from tests.analysis.rundirs import Spec, run_info, write_run

SCENARIO = {"name": "support", "seed": 1, "source": "builtin:support", "turns": {"dist": "uniform", "min": 2, "max": 6}}
LOAD = {
    "kind": "users", "conversations_per_hour": None, "users": 16, "warmup_s": 0.0, "think_time_scale": 1.0,
    "max_tokens": 256, "min_tokens": 0,
}  # fmt: skip


def runs(tmp_path: Path, *changes: dict[str, Any], same: dict[str, Any] | None = None) -> list[Run]:
    """One run per `changes` (run.json keys over a common workload), targets a, b, c, ..."""
    paths = []
    for name, change in zip("abcdef", changes, strict=False):
        spec = Spec(target=name, conversations=5, seed=1)
        info = run_info(spec, scenario=dict(SCENARIO), load=dict(LOAD), **(same or {}))
        for key, value in change.items():
            if isinstance(value, dict) and isinstance(info.get(key), dict):
                info[key] = {**info[key], **value}  # type: ignore[literal-required]
            else:
                info[key] = value  # type: ignore[literal-required]
        paths.append(write_run(tmp_path, spec, info=info))
    return load_runs(paths)


def test_the_same_workload_has_no_differences(tmp_path: Path) -> None:
    found = runs(tmp_path, {}, {})
    assert differences(found, same_load=True) == []
    assert workload_of(found[0]) == workload_of(found[1])
    assert workload_of(found[0]).scenario == "support" and workload_of(found[0]).users == 16


@pytest.mark.parametrize(
    ("change", "line"),
    [
        ({"scenario": {"name": "coding"}}, r"scenario: a support \([0-9a-f]{10}\) vs b coding \([0-9a-f]{10}\)"),
        ({"scenario": {"turns": {"value": 5}}}, r"scenario: a support \(\w+\) vs b support \(\w+\) \(turns differ\)"),
        ({"scenario": {"seed": 2}}, r"seed: a 1 vs b 2"),
        ({"load": {"kind": "shape"}}, r"load_kind: a users vs b shape"),
        ({"load": {"users": 32}}, r"users: a 16 vs b 32"),
        ({"load": {"think_time_scale": 0.5}}, r"think_time_scale: a 1\.0 vs b 0\.5"),
        ({"load": {"max_tokens": 512}}, r"max_tokens: a 256 vs b 512"),
        ({"load": {"min_tokens": 256}}, r"min_tokens: a 0 vs b 256"),
        ({"turnbench_version": "0.2.0"}, r"turnbench_version: a 0\.1\.0 vs b 0\.2\.0"),
    ],
)  # fmt: skip
def test_each_field_that_differs_gets_its_line(tmp_path: Path, change: dict[str, Any], line: str) -> None:
    (found,) = differences(runs(tmp_path, {}, change), same_load=True)
    assert re.fullmatch(line, found), found


def test_arrival_loads_compare_their_rate_not_their_lines(tmp_path: Path) -> None:
    arrivals = {"kind": "arrivals", "conversations_per_hour": 1200.0}
    found = runs(tmp_path, {"load": {**arrivals, "users": 40}}, {"load": {**arrivals, "users": 90}})
    assert differences(found, same_load=True) == []
    faster = runs(tmp_path, {"load": arrivals}, {}, {"load": {**arrivals, "conversations_per_hour": 2400.0}})
    assert differences(faster, same_load=True) == [
        "load_kind: a, c arrivals vs b users",
        "conversations_per_hour: a 1200/h vs c 2400/h",
    ]
    assert workload_of(faster[0]).conversations_per_hour == 1200.0


def test_without_same_load_the_load_is_not_compared(tmp_path: Path) -> None:
    levels = runs(
        tmp_path,
        {"load": {"kind": "arrivals", "conversations_per_hour": 600.0}},
        {"load": {"kind": "arrivals", "conversations_per_hour": 1200.0, "think_time_scale": 0.5}},
        {"load": {"users": 64}, "scenario": {"seed": 7}},
    )
    assert differences(levels, same_load=False) == ["seed: a, b 1 vs c 7"]


def test_where_and_how_the_scenario_was_loaded_does_not_count(tmp_path: Path) -> None:
    moved = {"scenario": {"source": "/home/someone/support.toml", "tokenizer_description": "exact: x (Fast)"}}
    found = runs(tmp_path, {}, moved)
    assert differences(found, same_load=True) == []
    assert workload_of(found[0]).scenario_digest == workload_of(found[1]).scenario_digest


def test_locust_csv_only_runs_are_unknown_said_once(tmp_path: Path) -> None:
    known = runs(tmp_path, {})
    blind = [write_run(tmp_path, Spec(target=name, seed=1), locust_only=True) for name in ("x", "y")]
    found = [*known, *load_runs(blind)]
    assert workload_of(found[1]) == Workload(False, None, None, None, None, None, None, None, None, None, None)
    assert differences(found, same_load=True) == []  # not refused: said
    (line,) = unchecked(found, same_load=True)  # named by their directories: nothing else names them
    assert line.startswith(f"workload unknown for {blind[0].name}, {blind[1].name} (Locust's CSVs only, no run.json)")


def test_runs_from_before_the_load_record_fall_back_to_locust_options(tmp_path: Path) -> None:
    old = {"load": None, "locust": {"num_users": 16, "spawn_rate": 4}}
    found = runs(tmp_path, old, {})
    assert workload_of(found[0]).users == 16 and workload_of(found[0]).think_time_scale is None
    assert differences(found, same_load=True) == []  # not refused: said
    assert unchecked(found, same_load=True) == [
        "think_time_scale, max_tokens, min_tokens: unknown for a (not in its run.json)"
    ]
    both_old = runs(tmp_path / "old", old, old)
    assert differences(both_old, same_load=True) == unchecked(both_old, same_load=True) == []  # nothing to compare
