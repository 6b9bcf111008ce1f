"""Nothing lost, and if anything is, it is said: run.json's reconciliation, from real runs.

A healthy run accounts for every row in every mode; a run that loses a worker (SIGKILL, mid-run)
names it, says its unsent rows are unknown, and still holds every turn of the worker that stayed.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from deploy.emulator.process import running_emulator
from tests.harness.run.commands import Run, only_run, rows, truth, turnbench, wait_for

OK_EXITS = (0, 4)  # 4: the load generator lagged on a busy machine; the records must be whole either way
# A request the killed worker wrote just before it died can still be read by the emulator a moment
# later; after this long, every request the emulator takes is the surviving worker's.
READ_ALLOWANCE_S = 5.0


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    with running_emulator("vllm", "--profile", "fast", "--model", "emulated") as url:
        yield url


@pytest.mark.parametrize("mode", [[], ["--processes", "2"], ["--workers", "2"]], ids=["local", "processes", "workers"])
def test_a_healthy_run_accounts_for_every_row(emulator: str, tmp_path: Path, mode: list[str]) -> None:
    truth(emulator)
    result = turnbench(
        "run", "--host", emulator, "--scenario", "support", "-u", "6", "-r", "6", "-t", "8s",
        "--think-time-scale", "0.05", "--out", str(tmp_path), *mode,
    )  # fmt: skip
    assert result.returncode in OK_EXITS, result.stdout + result.stderr[-2000:]
    assert "records incomplete" not in result.stdout
    run_dir = only_run(tmp_path)
    info = json.loads((run_dir / "run.json").read_text())
    reconciliation, requests = info["reconciliation"], rows(run_dir / "requests.csv")
    assert reconciliation["complete"] is True and reconciliation["differences"] == []
    assert info.get("lost_workers") == []
    turns = len(requests)
    assert turns == len(truth(emulator)) > 20
    assert reconciliation["requests_csv_rows"] == reconciliation["conversation_turns"] == info["turns"] == turns
    names = {"local"} if not mode else {"worker-0", "worker-1"}
    assert set(reconciliation["workers"]) == names
    for worker in reconciliation["workers"].values():
        assert worker["sent_requests"] == worker["received_requests"] == worker["requests_csv_rows"] > 0
        assert worker["unsent_rows"] == 0 and worker["lost"] is None


def test_a_worker_killed_mid_run_is_named_and_the_others_turns_are_all_there(emulator: str, tmp_path: Path) -> None:
    truth(emulator)
    out = tmp_path / "runs"
    with Run(emulator, out, "-u", "10", "-r", "10", "-t", "30s", "--think-time-scale", "0.05", "--workers", "2") as run:
        workers = wait_for(
            lambda: locust_workers(run) if len(locust_workers(run)) == 2 else None, "two worker processes"
        )
        wait_for(lambda: {"worker-0", "worker-1"} <= {r["worker"] for r in run.rows()}, "rows from both workers")
        victim = workers[0]
        victim.send_signal(signal.SIGKILL)
        wait_for(lambda: dead(victim), "the worker to die")
        killed_monotonic, killed_wall = time.monotonic(), time.time()
        code = run.process.wait(timeout=180)
    output = run.stdout.read_text() + run.stderr.read_text()
    assert code in OK_EXITS, output[-3000:]
    run_dir = only_run(out)
    info = json.loads((run_dir / "run.json").read_text())
    (lost,) = info["lost_workers"]
    assert lost["reason"] == "missing heartbeat"
    survivor = ({"worker-0", "worker-1"} - {lost["worker"]}).pop()
    requests = rows(run_dir / "requests.csv")
    # The worker named is the one killed: none of its turns started after its death.
    assert max(float(r["started_at"]) for r in requests if r["worker"] == lost["worker"]) < killed_wall
    assert any(float(r["started_at"]) > killed_wall for r in requests if r["worker"] == survivor)

    reconciliation = info["reconciliation"]
    assert reconciliation["complete"] is False
    gone, stayed = reconciliation["workers"][lost["worker"]], reconciliation["workers"][survivor]
    assert gone["lost"] == "missing heartbeat" and gone["unsent_rows"] is None
    assert any(d.startswith(f"{lost['worker']} was lost (missing heartbeat)") and "unknown" in d
               for d in reconciliation["differences"])  # fmt: skip
    assert stayed["lost"] is None and stayed["unsent_rows"] == 0
    assert stayed["sent_requests"] == stayed["received_requests"] == stayed["requests_csv_rows"]
    assert stayed["requests_csv_rows"] == stayed["conversation_turns"]  # its conversations account for every row
    assert not [d for d in reconciliation["differences"] if d.startswith(survivor)]
    summary = [line for line in run.stdout.read_text().splitlines() if line.startswith("turnbench run:")][-1]
    assert f"records incomplete: {lost['worker']} was lost (missing heartbeat)" in summary
    assert f"{lost['worker']} missing heartbeat" in run.stderr.read_text()  # the master's warning names it

    served = truth(emulator)
    recorded = {r["request_id"] for r in requests}
    assert recorded <= {str(t["request_id"]) for t in served}  # every row is a turn the server saw
    unrecorded = [t for t in served if str(t["request_id"]) not in recorded]
    # What is missing is the killed worker's: it came before its death, and the survivor's turns
    # after it (all of them the survivor's) are every one in requests.csv.
    assert all(t["arrival"] < killed_monotonic + READ_ALLOWANCE_S for t in unrecorded)
    later = [t for t in served if t["arrival"] >= killed_monotonic + READ_ALLOWANCE_S]
    assert len(later) > 20
    survivors = {r["request_id"] for r in requests if r["worker"] == survivor}
    assert {str(t["request_id"]) for t in later} <= survivors


def locust_workers(run: Run) -> list[psutil.Process]:
    """The run's Locust worker processes (turnbench starts them itself, next to the master)."""
    found = []
    with contextlib.suppress(psutil.NoSuchProcess):
        for child in psutil.Process(run.process.pid).children():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
                if "--worker" in child.cmdline():
                    found.append(child)
    return found


def dead(process: psutil.Process) -> bool:
    """Ended (a zombie until turnbench, its parent, reaps it)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
