"""`--processes auto`: the expected token rate of a scenario, and the process count it needs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.bench.cpu_per_token import ClientCost
from harness.recording.run_dir import read_figures
from harness.run.process_choice import TokenRate, choose_processes, expected_token_rate, usable_cores
from harness.scenario.scenario import Scenario, load_scenario
from harness.scenario.tokenizer import load_tokenizer

# Every turn: 4 s of thinking, then 200 tokens.
STEADY = (
    'system_prompt = "You help."\nturns = 3\nthink_time = 4\nmax_tokens = 200\n'
    '[questions]\npool = ["Why?", "How?", "What?", "When?"]\n'
)
MEASURED = ClientCost(100.0, "a test", measured=True)


@pytest.fixture
def steady(tmp_path: Path) -> Scenario:
    path = tmp_path / "steady.toml"
    path.write_text(STEADY)
    return load_scenario(str(path), load_tokenizer(None))


def test_the_rate_follows_think_time_output_length_and_decode_speed(steady: Scenario) -> None:
    # tokens per user = output / (think x scale + output / decode speed), times the users
    assert expected_token_rate(steady, 10, 1.0, 100.0).tokens_per_s == pytest.approx(10 * 200 / (4 + 2))
    assert expected_token_rate(steady, 10, 0.5, 100.0).tokens_per_s == pytest.approx(10 * 200 / (2 + 2))
    assert expected_token_rate(steady, 10, 1.0, 50.0).tokens_per_s == pytest.approx(10 * 200 / (4 + 4))
    assert expected_token_rate(steady, 10, 1.0, 100.0, max_tokens=100).tokens_per_s == pytest.approx(10 * 100 / 5)
    # without thinking, every user streams all the time
    assert expected_token_rate(steady, 7, 0.0, 100.0).tokens_per_s == pytest.approx(700)


def test_the_estimate_of_a_random_scenario_is_the_same_every_time() -> None:
    support = load_scenario("support", load_tokenizer(None))
    first, second = (expected_token_rate(support, 50, 1.0, 100.0) for _ in range(2))
    assert first == second
    # support: lognormal think time of mean 8 s, 200 tokens per turn
    assert first.mean_think_s == pytest.approx(8.0, rel=0.05) and first.mean_output_tokens == 200


def rate(tokens_per_s: float) -> TokenRate:
    """A load of `tokens_per_s` (no thinking, so it is the users times the decode speed)."""
    return TokenRate(users=round(tokens_per_s), mean_output_tokens=100, mean_think_s=0.0, stream_tps=1.0)


def test_a_light_load_is_one_process() -> None:
    choice = choose_processes(rate(1_000), MEASURED, cpu_count=8)  # 0.1 core
    assert (choice.processes, choice.needed, choice.warning) == (1, 1, "")
    assert "1,000 tokens/s" in choice.reason and "100 µs/token = 0.10 cores" in choice.reason


def test_each_process_stays_within_half_a_core() -> None:
    assert choose_processes(rate(5_000), MEASURED, cpu_count=8).processes == 1  # exactly 0.5 core
    assert choose_processes(rate(5_001), MEASURED, cpu_count=8).processes == 2
    choice = choose_processes(rate(12_000), MEASURED, cpu_count=8)  # 1.2 cores
    assert (choice.processes, choice.warning) == (3, "")


def test_more_than_the_machine_can_take_is_capped_at_its_cores_with_a_warning() -> None:
    choice = choose_processes(rate(12_000), MEASURED, cpu_count=2)  # 1.2 cores, 0.6 per process
    assert (choice.processes, choice.needed) == (2, 3)
    assert "needs 3 processes" in choice.warning and "1.2 times its 0.5-core budget" in choice.warning
    assert "saturated" in choice.warning and "\n" not in choice.warning


def test_run_json_keeps_the_figures_behind_the_choice() -> None:
    choice = choose_processes(rate(12_000), MEASURED, cpu_count=2)
    assert " " not in choice.record()  # one command-line word
    assert read_figures(choice.record()) == {
        "needed": 3, "cores": 1.2, "tokens_per_s": 12000, "us_per_token": 100, "cost": "measured"
    }  # fmt: skip


def test_a_containers_cpu_quota_caps_the_cores_counted(tmp_path: Path) -> None:
    host = len(os.sched_getaffinity(0))
    assert usable_cores(tmp_path) == host  # no cgroup file: the affinity mask
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert usable_cores(tmp_path) == host  # no quota
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert usable_cores(tmp_path) == 1  # half a core still runs one process
    (tmp_path / "cpu.max").write_text(f"{host * 300000} 100000\n")
    assert usable_cores(tmp_path) == host  # a quota above the mask does not add cores
