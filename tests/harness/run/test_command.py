"""`turnbench run` end to end against the emulator: local, --processes and master + workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.emulator.process import running_emulator
from tests.harness.run.commands import rows, truth, turnbench

# 0, or 4 when the load generator lagged past its 5 ms limit (many users on a 2-core machine shared
# with the emulator): the records must be whole either way; exit codes are tested in test_run_outcome.
OK_EXITS = (0, 4)


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    with running_emulator("vllm", "--profile", "fast", "--model", "emulated") as url:
        yield url


@pytest.mark.parametrize("mode", [[], ["--processes", "2"], ["--workers", "2"]], ids=["local", "processes", "workers"])
def test_a_run_records_every_turn_the_server_saw(emulator: str, tmp_path: Path, mode: list[str]) -> None:
    truth(emulator)  # start from an empty log
    result = turnbench(
        "run", "--host", emulator, "--scenario", "shared-context", "-u", "50", "-r", "25", "-t", "30s",
        "--think-time-scale", "0.2", "--out", str(tmp_path), *mode,
    )  # fmt: skip
    assert result.returncode in OK_EXITS, result.stdout + result.stderr[-2000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    requests = rows(run_dir / "requests.csv")
    served = truth(emulator)
    recorded, seen = {r["request_id"] for r in requests}, {str(t["request_id"]) for t in served}
    assert len(requests) == len(recorded) > 100 and recorded == seen
    stats = rows(run_dir / "locust_stats.csv")
    ttft_rows = {r["Name"] for r in stats if r["Type"] == "TTFT"}
    assert {"turn 01", "turn 02", "turn 03", "turn 04"} <= ttft_rows
    aggregated = next(r for r in stats if r["Name"] == "Aggregated")
    chat = next(r for r in stats if r["Name"] == "chat")
    assert aggregated["Request Count"] == chat["Request Count"]  # per-turn rows stay out of the total
    metrics = rows(run_dir / "server_metrics.csv")
    assert any(m["common"] == "cache_hit_rate" for m in metrics)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "complete" and info["server"]["emulator"] is True
    assert info["load_generator"]["workers"] == (2 if mode else 1)  # the processes that generated load
    assert info["locust"]["num_users"] == 50 and info["locust"]["headless"] is True  # Locust's own options
    conversations = rows(run_dir / "conversations.csv")
    assert conversations and {c["status"] for c in conversations} <= {"complete", "failed", "interrupted"}


def test_users_stopped_while_thinking_never_leave_a_turn_unrecorded(emulator: str, tmp_path: Path) -> None:
    # Locust kills a thinking user; one whose think time ends in the same instant used to start its
    # next turn and be killed mid-request, a turn the server saw and requests.csv lacked (1 run in 3
    # at these settings; now such a kill would show as a `stopped` row). Short think times make many
    # users wake as the run stops.
    for attempt in range(3):
        truth(emulator)
        out = tmp_path / str(attempt)
        result = turnbench(
            "run", "--host", emulator, "--scenario", "support", "-u", "50", "-r", "50", "-t", "6s",
            "--think-time-scale", "0.02", "--out", str(out),
        )  # fmt: skip
        assert result.returncode in OK_EXITS, result.stdout + result.stderr[-2000:]
        (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
        requests = rows(run_dir / "requests.csv")
        assert len(requests) == len(truth(emulator)) > 100
        # ...and none was cut off: a graceful stop waits for turns in flight, it never kills one.
        assert [r["error_kind"] for r in requests if r["error_kind"]] == []


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_later_turns_hit_the_cache_and_start_sooner(engine: str, tmp_path: Path) -> None:
    with running_emulator(engine, "--profile", "h100x2-70b", "--model", "emulated") as url:
        result = turnbench(
            "run", "--host", url, "--scenario", "shared-context", "-u", "8", "-r", "8", "-t", "30s",
            "--think-time-scale", "0.2", "--out", str(tmp_path),
        )  # fmt: skip
    assert result.returncode in OK_EXITS, result.stdout + result.stderr[-2000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    by_turn: dict[str, list[dict[str, str]]] = {}
    for r in rows(run_dir / "requests.csv"):
        by_turn.setdefault(r["turn"], []).append(r)
    share = {t: sum(int(r["cached_tokens"] or 0) for r in rs) / sum(int(r["prompt_tokens"]) for r in rs)
             for t, rs in by_turn.items()}  # fmt: skip
    assert share["2"] > share["1"] and share["3"] > share["1"]
    ttft = {t: sum(float(r["ttft_ms"]) for r in rs) / len(rs) for t, rs in by_turn.items()}
    assert ttft["2"] < ttft["1"] and ttft["3"] < ttft["1"]
    stats = {r["Name"]: r for r in rows(run_dir / "locust_stats.csv") if r["Type"] == "TTFT"}
    assert float(stats["turn 02"]["Average Response Time"]) < float(stats["turn 01"]["Average Response Time"])


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_mistakes_are_one_line_and_a_non_zero_exit(emulator: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\n[turns]\nmin = 0\n")
    cases = [
        (["--host", f"http://127.0.0.1:{closed_port()}"], "cannot reach http://127.0.0.1:"),
        (["--host", emulator, "--model", "nonesuch"], "does not serve model 'nonesuch'"),
        (["--host", emulator, "--scenario", str(bad)], str(bad)),
    ]
    for args, message in cases:
        result = turnbench("run", *args, "-t", "5s", "--out", str(tmp_path / "runs"))
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_step_ramp_holds_each_user_count_in_turn(emulator: str, tmp_path: Path) -> None:
    result = turnbench(
        "run", "--host", emulator, "--scenario", "support", "--shape", "StepRamp", "--think-time-scale", "0.05",
        "--out", str(tmp_path), "--", "--ramp-users", "2,5", "--ramp-stage-seconds", "6",
    )  # fmt: skip
    assert result.returncode in OK_EXITS, result.stdout + result.stderr[-2000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    history = rows(run_dir / "locust_stats_history.csv")
    assert {"2", "5"} <= {h["User Count"] for h in history if h["Name"] == "Aggregated"}


def auto(
    cache: Path, *args: str, cost: str | None = None, host: str = "http://127.0.0.1:9"
) -> subprocess.CompletedProcess[str]:
    """`turnbench run --processes auto`, with its client cost file under `cache` (never the real ~/.cache)."""
    if cost is not None:
        (cache / "turnbench").mkdir(parents=True, exist_ok=True)
        (cache / "turnbench" / "client_cost.json").write_text(cost)
    return turnbench("run", "--host", host, "--processes", "auto", "--out", str(cache / "runs"), *args,
                     env={"XDG_CACHE_HOME": str(cache)}, timeout=60)  # fmt: skip


def processes_passed(command: str) -> int:
    """The --processes a Locust command line gets; 1 when none (plain local mode)."""
    words = command.split()
    return int(words[words.index("--processes") + 1]) if "--processes" in words else 1


def test_processes_auto_chooses_from_the_expected_token_rate_in_a_dry_run(tmp_path: Path) -> None:
    cores = os.cpu_count() or 1
    light = auto(tmp_path / "none", "-u", "5", "--dry-run")
    (line,) = light.stderr.strip().splitlines()
    assert light.returncode == 0 and processes_passed(light.stdout) == 1
    assert line.startswith("turnbench run: --processes auto chose 1: expected ≈ ") and "reference machine" in line

    # 100 users, 128 tokens per turn after 0.35 s of thinking: ≈ 7,900 tokens/s x 120 µs = 0.95 cores
    cost = '{"us_per_token": 120, "measured_at": "", "machine": "", "source": ""}'
    measured = auto(tmp_path / "measured", "--scenario", "shared-context", "-u", "100", "--think-time-scale", "0.1",
                    "--dry-run", cost=cost)  # fmt: skip
    assert measured.returncode == 0 and processes_passed(measured.stdout) == min(2, cores)
    assert f"chose {min(2, cores)}: " in measured.stderr and "x 120 µs/token = 0.95 cores" in measured.stderr
    assert str(tmp_path / "measured" / "turnbench" / "client_cost.json") in measured.stderr

    longer = auto(
        tmp_path / "none", "--scenario", "shared-context", "-u", "100", "--dry-run", "--", "--max-tokens", "900"
    )
    assert "900 tokens per turn" in longer.stderr and "--max-tokens 900" in longer.stdout

    flood = auto(tmp_path / "bad", "-u", "100000", "--think-time-scale", "0", "--dry-run", cost="{not json")
    warning, choice, saturated = flood.stderr.strip().splitlines()
    assert flood.returncode == 0 and processes_passed(flood.stdout) == cores
    assert "not a usable client cost file" in warning and "using 30 µs/token" in warning
    assert choice.startswith(f"turnbench run: --processes auto chose {cores}: expected ≈ 10,000,000 tokens/s")
    assert "will likely be saturated" in saturated and f"this machine has {cores} cores" in saturated


def test_processes_auto_mistakes_are_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text('[run]\nprocesses = "many"\n')
    cases = [
        (["--processes", "many"], "--processes: expected a whole number of processes (0: one) or 'auto', got 'many'"),
        (["--processes", "-1"], "--processes: expected a whole number of processes (0: one) or 'auto', got '-1'"),
        (["--config", str(config)], f"{config}: [run] processes: expected a whole number of processes"),
        (["--processes", "auto", "--workers", "2"], "--processes auto and --workers N do not mix"),
        (["--processes", "auto", "--expected-stream-tps", "0"], "--expected-stream-tps 0: expected tokens per"),
    ]
    for args, message in cases:
        result = turnbench("run", "--host", "http://127.0.0.1:9", *args, "--dry-run", timeout=60)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], (args, result.stderr)


def test_processes_auto_runs_what_it_chose_and_run_json_says_why(emulator: str, tmp_path: Path) -> None:
    # One process, so the test stays short: with --processes N, Locust's forked workers outlive
    # the run by their 60 s heartbeat timeout. The record is the same either way.
    cost = '{"us_per_token": 50, "measured_at": "", "machine": "", "source": ""}'
    result = auto(tmp_path, "-u", "2", "-r", "2", "-t", "3s", "--think-time-scale", "0.05", cost=cost, host=emulator)
    assert result.returncode in OK_EXITS, result.stdout + result.stderr[-2000:]
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    locust = json.loads((run_dir / "run.json").read_text())["locust"]
    assert locust["processes"] is None  # plain local mode: Locust got no --processes
    assert locust["processes_auto"]["needed"] == 1 and locust["processes_auto"]["cost"] == "measured"
    assert locust["processes_auto"]["us_per_token"] == 50
    assert rows(run_dir / "requests.csv")
