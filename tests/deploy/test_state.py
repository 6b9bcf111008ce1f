"""The deploy record next to targets.toml: ids and pids only, readable after any interruption."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.errors import DeployError
from deploy.state import DeployState, LocalProcess, load_state, remove_state, state_path, write_state


def test_round_trip(tmp_path: Path) -> None:
    targets = tmp_path / "targets.toml"
    assert state_path(targets) == tmp_path / "targets.deploy.json" and load_state(targets) is None
    pods = DeployState("runpod", "ab12cd34", {"pod1": "vllm", "pod2": "sglang"})
    write_state(targets, pods)
    assert load_state(targets) == pods
    local = DeployState("local", processes=(LocalProcess("vllm", 123, "http://127.0.0.1:1", "x.log"),))
    write_state(targets, local)
    assert load_state(targets) == local
    remove_state(targets)
    assert load_state(targets) is None and list(tmp_path.iterdir()) == []


def test_serverless_ids_round_trip_and_an_older_record_has_none(tmp_path: Path) -> None:
    targets = tmp_path / "targets.toml"
    serverless = DeployState("runpod", "ab12cd34", endpoints={"end1": "vllm"}, templates={"tpl1": "vllm"})
    write_state(targets, serverless)
    assert load_state(targets) == serverless
    state_path(targets).write_text('{"kind": "runpod", "deploy_id": "ab12cd34", "pods": {"pod1": "vllm"}}')
    assert load_state(targets) == DeployState("runpod", "ab12cd34", {"pod1": "vllm"})


@pytest.mark.parametrize("text", ["{", '{"kind": "cloud"}', "[]"])
def test_a_damaged_record_is_one_clear_line(tmp_path: Path, text: str) -> None:
    state_path(tmp_path / "targets.toml").write_text(text)
    with pytest.raises(DeployError, match="remove it if nothing is running"):
        load_state(tmp_path / "targets.toml")
