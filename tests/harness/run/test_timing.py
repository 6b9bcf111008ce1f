"""A whole `turnbench run`, users spawned all at once, against a server that knows when it sent each token.

The streaming client is accurate once users stream (tests/harness/client); these tests measure the
run as a user runs it: start-up, spawn burst, every process. Every turn must be true to the
server's own clock or say it is not (`lagged`), and few may say so.

The reference is itself a Python server on the same two cores: under 256 streams it sometimes
takes a new connection, or reads a request head, several ms after the client sent it (measured:
up to 8.7 ms between the client's connect returning and the server's accept), and that delay is
in its truth, not in turnbench. So "true" is within 5 ms for all but `STRAGGLERS` of the
unflagged turns (the stragglers measured 5-16 ms off); before the fix, a fifth of the turns
(those of the spawn burst) were 76-150 ms late and unflagged. The server keeps idle connections open,
as in the run that found the problem: reconnects are tested in test_reconnects.py.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.bench.groundtruth.process import GroundTruth, running_groundtruth
from tests.harness.run.commands import rows, turnbench

TTFT_MS, ITL_MS, TOKENS = 200.0, 20.0, 64
TOLERANCE_MS = 5.0  # an unflagged turn's TTFT against the server's
STRAGGLERS = 0.005  # of unflagged turns, beyond TOLERANCE_MS (the reference server's own delays)
MAX_FLAGGED = 0.01


@pytest.fixture(scope="module")
def server() -> Iterator[GroundTruth]:
    with running_groundtruth("--ttft-ms", str(TTFT_MS), "--itl-ms", str(ITL_MS), "--keep-alive-timeout", "0") as truth:
        yield truth


# With --processes 2 on a 2-core machine, two workers, their master and the server (a core's worth
# at 25,600 tokens/s) share two cores: the scheduler now and then pauses a worker for 5-20 ms,
# which its probe sees and flags (measured: 0% and 1.1% of 2,290 turns flagged in two runs).
@pytest.mark.parametrize(
    ("users", "mode", "max_flagged"),
    [(256, [], MAX_FLAGGED), (512, ["--processes", "2"], 2 * MAX_FLAGGED)],
    ids=["local", "processes"],
)
def test_every_turn_is_true_or_flagged_while_users_start(
    server: GroundTruth, tmp_path: Path, users: int, mode: list[str], max_flagged: float
) -> None:
    server.log()  # start from an empty log
    result = turnbench(
        "run", "--host", server.url, "--model", "groundtruth", "--scenario", "support", "-u", str(users),
        "-r", str(users), "-t", "45s", "--out", str(tmp_path), *mode, "--", "--max-tokens", str(TOKENS),
        timeout=240,
    )  # fmt: skip
    assert result.returncode in (0, 4), result.stdout + result.stderr[-2000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    received = server.log()
    turns = rows(run_dir / "requests.csv")
    assert len(turns) == len(received) > users  # every request has its row, and every user took a turn
    errors, trusted = [], []
    for turn in turns:
        truth = received[turn["request_id"]]
        errors.append(float(turn["ttft_ms"]) - (truth["first_token"] - truth["received"]) * 1000.0)
        if turn["lagged"] != "True":
            trusted.append(errors[-1])
    flagged = len(turns) - len(trusted)
    assert flagged <= max_flagged * len(turns), f"{flagged} of {len(turns)} turns flagged"
    stragglers = [e for e in trusted if abs(e) > TOLERANCE_MS]
    assert len(stragglers) <= STRAGGLERS * len(trusted), f"{len(stragglers)} unflagged turns off by > 5 ms"
    assert abs(statistics.median(errors)) <= 1.0
    health = json.loads((run_dir / "run.json").read_text())["load_generator"]
    assert health["flagged_turns"] == flagged and health["saturated"] == (result.returncode == 4)
