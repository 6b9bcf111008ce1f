"""Every request the server saw is one row, of the kind of fault it got: a run against an emulator
that injects every fault kind, checked against the emulator's own log, hung requests included."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from deploy.emulator.faults import KINDS
from deploy.emulator.process import running_emulator
from tests.harness.run.commands import rows, truth, turnbench

RATE = 0.05  # of each kind: half the requests fail, one way or another
# A row and its request are stamped on one machine's clock, the row just before sending. However
# slow the machine, a request is read long before this; the pairing below is by order, so the
# allowance only rules out pairing one turn with another's request.
READ_ALLOWANCE_S = 5.0


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_every_request_the_emulator_saw_is_one_row_with_its_fault(engine: str, tmp_path: Path) -> None:
    faults = ",".join(f"{kind}={RATE}" for kind in KINDS)
    with running_emulator(engine, "--profile", "fast", "--model", "emulated", "--faults", faults) as url:
        truth(url)  # start from an empty log
        # Timeouts far above the fast profile's 20 ms steps, so only an injected hang times out, and
        # short enough that users stuck in one move on within the run.
        result = turnbench(
            "run", "--host", url, "--scenario", "support", "-u", "30", "-r", "30", "-t", "15s",
            "--think-time-scale", "0.05", "--out", str(tmp_path),
            "--", "--first-token-timeout", "3", "--stall-timeout", "2", "--max-failure-rate", "1",
        )  # fmt: skip
        served = truth(url)
    assert result.returncode in (0, 4), result.stdout + result.stderr[-2000:]  # 4: lagged on a busy machine
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    recorded = rows(run_dir / "requests.csv")

    assert {r["fault"] for r in served} == {None, *KINDS}  # every kind really struck
    assert len(recorded) == len(served)
    assert {r["request_id"] for r in served if r["hung"]} <= {r["request_id"] for r in recorded}
    by_id = {r["request_id"]: r for r in served}
    unmatched: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for row in recorded:
        if row["request_id"]:  # the answer started: the row carries the server's id
            record = by_id.pop(row["request_id"])
            assert row["error_kind"] == (record["fault"] or ""), (row, record)
        else:  # refused before any answer (connect, HTTP errors): matched by kind and time
            unmatched[row["error_kind"]][0].append(float(row["started_at"]))
    for record in by_id.values():
        unmatched[record["fault"] or ""][1].append(float(record["arrival_wall"]))
    for kind, (sent, arrived) in unmatched.items():
        assert kind in {"connect", "http_4xx", "http_429", "http_5xx"}, (kind, len(sent), len(arrived))
        assert len(sent) == len(arrived), kind
        gaps = [a - s for s, a in zip(sorted(sent), sorted(arrived), strict=True)]
        assert all(-0.01 < gap < READ_ALLOWANCE_S for gap in gaps), (kind, min(gaps), max(gaps))
