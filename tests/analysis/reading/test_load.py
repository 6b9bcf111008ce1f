"""Loading run directories (analysis/reading/load.py, csv_tables.py, run_json.py): what loads, and what a
user sees when a file is wrong: one line naming the file and the column or key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.reading.load import load_run, load_runs
from tests.analysis.rundirs import Spec, request_rows, write_csv, write_run


def error_of(path: Path) -> str:
    with pytest.raises(AnalysisError) as caught:
        load_run(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return write_run(tmp_path, Spec(conversations=40, failure_rate=0.1, seed=3))


def test_a_run_loads_with_the_contract_types(run: Path) -> None:
    loaded = load_run(run)
    assert not loaded.locust_only and loaded.target_name == "vllm" and loaded.engine == "vllm"
    requests = loaded.requests
    assert requests is not None
    assert requests["turn"].dtype == np.int64
    assert requests["ok"].dtype == bool
    assert requests["ttft_ms"].dtype == np.float64
    raw = pd.read_csv(run / "requests.csv", keep_default_na=False)
    failed = raw["ok"].astype(str) == "False"
    assert failed.any()
    assert (raw.loc[failed, "ttft_ms"] == "").all()  # failed turns have empty cells...
    assert requests.loc[failed.to_numpy(), "ttft_ms"].isna().all()  # ...which mean "not reported"
    assert not requests["ok"][failed.to_numpy()].any()


@pytest.mark.parametrize(
    ("cells", "expected"),
    [(["true", "false"], [True, False]), (["True", "False"], [True, False]), (["1", "0"], [True, False])],
)
def test_ok_accepts_true_false_and_1_0(tmp_path: Path, cells: list[str], expected: list[bool]) -> None:
    requests = request_rows(
        [{"conversation_id": "c1", "turn": 1, "ok": cells[0]}, {"conversation_id": "c1", "turn": 2, "ok": cells[1]}]
    )
    path = write_run(tmp_path, Spec(), requests=requests)
    loaded = load_run(path)
    assert loaded.requests is not None
    assert loaded.requests["ok"].tolist() == expected


def test_a_missing_column_is_named(run: Path) -> None:
    frame = pd.read_csv(run / "requests.csv", keep_default_na=False).drop(columns=["ttft_ms"])
    frame.to_csv(run / "requests.csv", index=False)
    assert error_of(run) == (
        f"{run}/requests.csv: column ttft_ms: missing from the header (see harness.recording.run_dir.REQUEST_COLUMNS)"
    )


@pytest.mark.parametrize(
    ("name", "column", "row", "value", "expected"),
    [
        *[
            ("requests.csv", column, 17, "fast", f"column {column}: not a number in row 17: 'fast'")
            for column in ["ttft_ms", "turn", "started_at", "prompt_tokens"]
        ],
        ("requests.csv", "e2e_ms", 5, "", "column e2e_ms: empty in row 5; every row needs a value"),
        ("requests.csv", "turn", 3, "1.5", "column turn: not a whole number in row 3: 1.5"),
        ("requests.csv", "ok", 8, "yes", "column ok: expected true or false, got 'yes' in row 8"),
        (
            "conversations.csv",
            "status",
            2,
            "done",
            "column status: expected one of complete, failed, interrupted, got 'done' in row 2",
        ),
    ],
)
def test_a_bad_cell_is_named_with_its_file_column_and_row(
    run: Path, name: str, column: str, row: int, value: str, expected: str
) -> None:
    frame = pd.read_csv(run / name, keep_default_na=False, dtype=str)
    frame.loc[row - 1, column] = value  # rows count from 1 below the header
    frame.to_csv(run / name, index=False)
    assert error_of(run) == f"{run}/{name}: {expected}"


DELETE = object()


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("target.billing", {}, "missing key target.billing.kind"),
        ("target.name", DELETE, "missing key target.name"),
        ("started_at", DELETE, "missing key started_at"),
        ("target", DELETE, "missing key target"),
        ("status", "done", 'key status: expected one of complete, interrupted, failed, got "done"'),
        ("ended_at", "soon", 'key ended_at: expected a number, got "soon"'),
        ("server.emulator", "yes", 'key server.emulator: expected true or false, got "yes"'),
        ("load_generator.saturated", DELETE, "missing key load_generator.saturated"),
        ("target.gpu_count", 1.5, "key target.gpu_count: expected a whole number, got 1.5"),
    ],
)
def test_a_bad_run_json_key_is_named(run: Path, key: str, value: object, expected: str) -> None:
    *parents, last = key.split(".")
    obj = json.loads((run / "run.json").read_text())
    where = obj
    for parent in parents:
        where = where[parent]
    if value is DELETE:
        del where[last]
    else:
        where[last] = value
    (run / "run.json").write_text(json.dumps(obj))
    assert error_of(run) == f"{run}/run.json: {expected}"


def test_run_json_that_is_not_json(run: Path) -> None:
    (run / "run.json").write_text('{"target": ')
    assert error_of(run).startswith(f"{run}/run.json: not valid JSON")


def test_an_empty_directory(tmp_path: Path) -> None:
    assert error_of(tmp_path) == (
        f"{tmp_path}: no run files; expected run.json with requests.csv (a turnbench run) "
        "or locust_stats.csv (Locust --csv output)"
    )


def test_a_directory_that_does_not_exist(tmp_path: Path) -> None:
    assert "no such directory" in error_of(tmp_path / "nope")


def test_no_run_directory_at_all() -> None:
    with pytest.raises(AnalysisError, match="no run directory given"):
        load_runs([])


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("conversations.csv", None, "conversations.csv: missing"),
        ("requests.csv", "", "requests.csv: empty file (no header row)"),
        ("requests.csv", "header-only", "requests.csv: no rows after the header"),
        ("requests.csv", "cut", "requests.csv: column turn: empty in row"),
    ],
)
def test_missing_empty_and_broken_files(run: Path, name: str, content: str | None, expected: str) -> None:
    path = run / name
    if content is None:
        path.unlink()
    elif content == "header-only":
        path.write_text(path.read_text().splitlines()[0] + "\n")
    elif content == "cut":  # the run stopped in the middle of writing a row
        path.write_text(path.read_text() + "vllm-c000999,SupportU")
    else:
        path.write_text(content)
    assert expected in error_of(run)
    assert error_of(run).startswith(f"{run}/{name}")


def test_extra_columns_are_allowed(run: Path) -> None:
    frame = pd.read_csv(run / "requests.csv", keep_default_na=False, dtype=str)
    frame["added_later"] = "x"
    write_csv(frame, run / "requests.csv")
    assert load_run(run).requests is not None


def test_two_runs_of_one_target_get_distinct_labels(tmp_path: Path) -> None:
    first = write_run(tmp_path, Spec(seed=1, conversations=10))
    second = write_run(tmp_path, Spec(seed=2, conversations=10))
    assert [r.label for r in load_runs([first, second])] == ["vllm", "vllm #2"]


def test_a_reconciliation_is_checked_when_there_is_one(run: Path) -> None:
    obj = json.loads((run / "run.json").read_text())
    obj["reconciliation"] = {"complete": False, "differences": "worker-1 was lost"}
    (run / "run.json").write_text(json.dumps(obj))
    assert error_of(run) == (
        f'{run}/run.json: key reconciliation.differences: expected a list of strings, got "worker-1 was lost"'
    )
    obj["reconciliation"]["differences"] = ["worker-1 was lost"]
    (run / "run.json").write_text(json.dumps(obj))
    assert load_run(run).info["reconciliation"]["differences"] == ["worker-1 was lost"]  # type: ignore[index]
