"""Locust's per-turn rows (harness/plugin/turn_entries.py) and the web UI's Turns tab: branches
(regenerate, edit) have rows of their own, so "turn 0k" rows are first asks only."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from locust.env import Environment

from deploy.emulator.process import running_emulator
from harness.client.turn_result import TurnResult
from harness.plugin.turn_entries import BRANCH_NAME, fire_turn_rows, turn_name
from harness.plugin.turns_tab import turn_rows
from harness.recording.cached_rule import CachedRule
from harness.recording.turn_rows import BRANCHES, RecordWriter, request_row
from tests.harness.run.commands import ROOT, rows, turnbench


@pytest.fixture(scope="module")
def branchy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of the coding scenario, with a branch on half the turns after the first."""
    root = tmp_path_factory.mktemp("branches")
    scenario = root / "branchy.toml"
    coding = (ROOT / "harness" / "scenario" / "builtin" / "coding.toml").read_text()
    scenario.write_text(coding.replace("branch_probability = 0.1", "branch_probability = 0.5"))
    with running_emulator("vllm", "--profile", "fast", "--model", "emulated") as url:
        result = turnbench(
            "run", "--host", url, "--scenario", str(scenario), "-u", "8", "-r", "8", "-t", "10s",
            "--think-time-scale", "0.02", "--out", str(root / "runs"), "--", "--max-tokens", "20",
        )  # fmt: skip
    assert result.returncode in (0, 4), result.stdout + result.stderr[-2000:]  # 4: lagged on a busy machine
    (run_dir,) = [p for p in (root / "runs").iterdir() if p.is_dir()]
    return run_dir


def test_turn_rows_count_first_asks_and_branches_have_their_own(branchy_run: Path) -> None:
    requests = rows(branchy_run / "requests.csv")
    branches = [r for r in requests if r["branch_kind"]]
    assert branches and {r["branch_kind"] for r in branches} <= {"regenerate", "edit"}
    assert all(0 < int(r["branch_of"]) < int(r["turn"]) for r in branches)
    # Every conversation opens with exactly one turn 1, never a branch.
    openings = Counter(r["conversation_id"] for r in requests if r["turn"] == "1")
    assert set(openings) == {r["conversation_id"] for r in requests} and set(openings.values()) == {1}
    assert not any(r["branch_kind"] for r in requests if r["turn"] == "1")

    expected = Counter(
        BRANCH_NAME if r["branch_kind"] else turn_name(int(r["turn"])) for r in requests if r["ok"] == "True"
    )
    stats = rows(branchy_run / "locust_stats.csv")
    ttft = {r["Name"]: int(r["Request Count"]) for r in stats if r["Type"] == "TTFT"}
    e2e = {r["Name"]: int(r["Request Count"]) for r in stats if r["Type"] == "E2E"}
    chat = next(r for r in stats if r["Type"] == "POST" and r["Name"] == "chat")
    # Locust's own CSV may miss the last turns (those ending while the users stop): each row holds at
    # most its own turns, and together all the successful turns Locust counted. A branch counted
    # under its turn number would push that row past its first asks.
    assert ttft == e2e and BRANCH_NAME in ttft and set(ttft) <= set(expected)
    assert all(ttft[name] <= expected[name] for name in ttft), (ttft, expected)
    assert sum(ttft.values()) == int(chat["Request Count"]) - int(chat["Failure Count"])
    assert sum(expected.values()) - sum(ttft.values()) <= 8  # at most one per user


def turn(ttft_ms: float, cached: int | None) -> TurnResult:
    return TurnResult(
        started_at=1.0, started_monotonic=1.0, ttft_ms=ttft_ms, ttfo_ms=ttft_ms, e2e_ms=ttft_ms + 500.0,
        tpot_ms=10.0, itl_p50_ms=10.0, itl_p99_ms=12.0, itl_max_ms=15.0, prompt_tokens=1000, cached_tokens=cached,
        completion_tokens=50, finish_reason="stop", content="an answer", reasoning="", events=52, token_events=50,
        http_status=200, response_id="chatcmpl-1",
    )  # fmt: skip


def test_the_turns_tab_shows_branches_in_a_row_of_their_own(tmp_path: Path) -> None:
    environment = Environment()
    environment.create_local_runner()  # its listener feeds the request event into environment.stats
    writer = RecordWriter(tmp_path, CachedRule(nothing_cached_is_null=True, reporting=True))  # an SGLang
    turns: list[tuple[int, dict[str, Any], TurnResult]] = [
        (1, {"turn": 1}, turn(400.0, None)),  # nothing cached: SGLang's null
        (2, {"turn": 2}, turn(200.0, 900)),
        (3, {"turn": 3, "branch_kind": "regenerate", "branch_of": 2}, turn(100.0, 1000)),
    ]
    for number, context, result in turns:
        fire_turn_rows(environment.events.request, number, result, context)
    writer.receive({"requests": [request_row(result, context, "local") for _, context, result in turns]})
    writer.close()
    assert set(writer.turns) == {1, 2, BRANCHES}

    shown = {row["turn"]: row for row in turn_rows(environment, lambda: writer.turns)}
    assert list(shown) == ["turn 01", "turn 02", BRANCH_NAME]
    assert shown["turn 01"]["cached_share"] == "0.0%" and shown["turn 02"]["cached_share"] == "90.0%"
    assert shown[BRANCH_NAME]["cached_share"] == "100.0%" and shown[BRANCH_NAME]["requests"] == 1
    assert shown[BRANCH_NAME]["ttft_p50"] == 100
