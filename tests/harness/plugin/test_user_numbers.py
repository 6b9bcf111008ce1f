"""One user identity per run: the same people, asking the same first questions, with 1 or 2 processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.bench.groundtruth.process import GroundTruth, running_groundtruth
from tests.harness.run.commands import rows, turnbench

USERS = 16


@pytest.fixture(scope="module")
def server() -> Iterator[GroundTruth]:
    with running_groundtruth("--ttft-ms", "20", "--itl-ms", "2") as truth:
        yield truth


def first_asks(server: GroundTruth, out: Path, *mode: str) -> set[tuple[int, str, str]]:
    """(user, private context, first question) of every user's first turn, as the server received them."""
    server.log()  # start from an empty log
    result = turnbench(
        "run", "--host", server.url, "--model", "groundtruth", "--scenario", "support", "-u", str(USERS),
        "-r", str(USERS), "-t", "6s", "--think-time-scale", "0.05", "--out", str(out), *mode,
    )  # fmt: skip
    assert result.returncode in (0, 4), result.stdout + result.stderr[-2000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    received = server.log()
    firsts = [r for r in rows(run_dir / "requests.csv") if r["turn"] == "1" and r["conversation_id"].endswith("-c1")]
    return {
        (int(r["user"]), received[r["request_id"]]["system_digest"], received[r["request_id"]]["question_digest"])
        for r in firsts
    }


def test_every_process_count_runs_the_same_distinct_people(server: GroundTruth, tmp_path: Path) -> None:
    one = first_asks(server, tmp_path / "one")
    two = first_asks(server, tmp_path / "two", "--processes", "2")
    assert {user for user, _, _ in one} == set(range(USERS))  # every user started and asked
    assert len({context for _, context, _ in one}) == USERS  # each with a private context of their own
    assert one == two  # the same people asking the same first questions, whatever the process count
