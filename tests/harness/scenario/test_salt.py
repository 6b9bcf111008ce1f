"""The cache salt: a few run-unique tokens first in every prompt, the same in every conversation (and every
Locust process) of a run, new for the next run, and recorded in run.json by size only."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.bench.groundtruth.process import GroundTruth, running_groundtruth
from harness.scenario.salt import salt_for, salted
from harness.scenario.scenario import shared_scenario
from harness.scenario.tokenizer import ApproximateTokenizer
from tests.harness.run.commands import only_run, rows, turnbench

SYSTEM = "You are a helpful assistant.\n\nThe shared document."


def test_auto_is_short_and_new_each_time_off_is_nothing_and_a_given_text_stays() -> None:
    first, second = salt_for("auto"), salt_for(" AUTO ")
    assert first != second and first.startswith("run ") and len(first) == 12
    assert ApproximateTokenizer("test").count(first) <= 4  # a handful of tokens
    assert salt_for("off") == salt_for("") == ""
    assert salt_for("team-a") == "team-a"


def test_the_salt_comes_first_and_the_system_message_follows_unchanged() -> None:
    salt = salt_for("auto")
    assert salted(SYSTEM, salt) == f"{salt}\n\n{SYSTEM}"
    assert salted("", salt) == salt  # a conversation without a system message gets the salt as one
    assert salted(SYSTEM, "") == SYSTEM


@pytest.fixture(scope="module")
def server() -> Iterator[GroundTruth]:
    with running_groundtruth("--ttft-ms", "20", "--itl-ms", "2") as truth:
        yield truth


def system_digests(server: GroundTruth, out: Path, *args: str) -> tuple[set[str], dict[str, object]]:
    """The digests of the system messages the server received in one run, and the run's run.json."""
    server.log()  # from an empty log
    result = turnbench(
        "run", "--host", server.url, "--model", "groundtruth", "--scenario", "shared-context", "-u", "4", "-r", "4",
        "-t", "4s", "--think-time-scale", "0.05", "--out", str(out), *args,
    )  # fmt: skip
    assert result.returncode in (0, 4), result.stdout + result.stderr[-2000:]
    run_dir = only_run(out)
    received = server.log()
    turns = rows(run_dir / "requests.csv")
    assert len({r["worker"] for r in turns}) == (2 if "--processes" in args else 1)
    return {received[r["request_id"]]["system_digest"] for r in turns}, json.loads((run_dir / "run.json").read_text())


def test_every_conversation_of_a_run_shares_one_salt_across_processes_and_the_next_run_gets_another(
    server: GroundTruth, tmp_path: Path
) -> None:
    # Every user of shared-context shares one system message: one digest per run.
    plain = hashlib.sha256(shared_scenario("shared-context", "").system_message(0).encode()).hexdigest()[:16]
    two_processes, info = system_digests(server, tmp_path / "a", "--processes", "2", "--", "--cache-salt", "auto",
                                         "--max-tokens", "4")  # fmt: skip
    assert len(two_processes) == 1 and two_processes != {plain}
    assert info["cache_salt"] == {"on": True, "kind": "auto", "tokens": 3}  # "run " + 8 hex digits, ~4 chars a token
    again, _ = system_digests(server, tmp_path / "b", "--", "--cache-salt", "auto", "--max-tokens", "4")
    assert len(again) == 1 and again != two_processes and again != {plain}
    unsalted, info = system_digests(server, tmp_path / "c", "--", "--max-tokens", "4")
    assert unsalted == {plain} and info["cache_salt"] == {"on": False, "kind": "off", "tokens": 0}
