"""The client cost file: what `turnbench bench` saves is what `turnbench run --processes auto` reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.bench.cpu_per_token import DEFAULT_US_PER_TOKEN, cost_path, load, save


def test_the_file_lives_under_the_xdg_cache_or_home_cache() -> None:
    assert cost_path({"XDG_CACHE_HOME": "/x/cache"}) == Path("/x/cache/turnbench/client_cost.json")
    assert cost_path({}) == Path.home() / ".cache" / "turnbench" / "client_cost.json"


def test_a_saved_cost_is_what_the_next_run_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = save(42.5, "2-core test box")
    assert path == tmp_path / "turnbench" / "client_cost.json"
    record = json.loads(path.read_text())
    assert record["machine"] == "2-core test box" and record["source"] == "turnbench bench"
    assert record["measured_at"].endswith("Z")
    cost = load()
    assert (cost.us_per_token, cost.measured, cost.warning) == (42.5, True, "")
    assert str(path) in cost.source


def test_without_a_file_the_reference_machines_figure_stands_in(tmp_path: Path) -> None:
    cost = load(tmp_path / "none.json")
    assert (cost.us_per_token, cost.measured, cost.warning) == (DEFAULT_US_PER_TOKEN, False, "")
    assert "reference machine" in cost.source and "turnbench bench" in cost.source


@pytest.mark.parametrize(
    "text",
    ['{"us_per_token": 12', "[]", "{}", '{"us_per_token": "fast"}', '{"us_per_token": -3}',
     '{"us_per_token": true}', '{"us_per_token": NaN}', "\xff\xfe"],
    ids=["truncated", "list", "empty", "string", "negative", "bool", "nan", "binary"],
)  # fmt: skip
def test_a_malformed_file_is_one_warning_and_the_default(tmp_path: Path, text: str) -> None:
    path = tmp_path / "client_cost.json"
    path.write_bytes(text.encode("latin-1"))
    cost = load(path)
    assert cost.us_per_token == DEFAULT_US_PER_TOKEN and not cost.measured
    assert str(path) in cost.warning and "\n" not in cost.warning


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_a_meaningless_cost_is_never_saved(tmp_path: Path, value: float) -> None:
    with pytest.raises(ValueError):
        save(value, "box", tmp_path / "client_cost.json")
    assert not (tmp_path / "client_cost.json").exists()
