"""`turnbench run --arrival-rate`: lines sized for the rate when -u is not given, said before the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.run.line_sizing import size_lines
from harness.scenario.scenario import Scenario, load_scenario
from harness.scenario.tokenizer import load_tokenizer
from tests.harness.run.commands import turnbench

# Every conversation: 3 turns, each 4 s of thinking then 200 tokens.
STEADY = (
    'system_prompt = "You help."\nturns = 3\nthink_time = 4\nmax_tokens = 200\n'
    '[questions]\npool = ["Why?", "How?", "What?", "When?"]\n'
)


@pytest.fixture
def steady(tmp_path: Path) -> Scenario:
    path = tmp_path / "steady.toml"
    path.write_text(STEADY)
    return load_scenario(str(path), load_tokenizer(None))


def test_lines_cover_twice_the_conversations_in_progress_and_ten_more(steady: Scenario) -> None:
    # 1,200/h = one every 3 s; each lasts 3 x (4 s + 200 tokens at 100/s) = 18 s: 6 in progress.
    sizing = size_lines(steady, 1200.0, 1.0, 100.0)
    assert sizing.conversation_s == pytest.approx(18.0) and sizing.concurrency == pytest.approx(6.0)
    assert sizing.lines == 22
    assert size_lines(steady, 1200.0, 0.5, 100.0).lines == 18  # 12 s each: 4 in progress
    assert size_lines(steady, 1200.0, 1.0, 100.0, max_tokens=100).lines == 20  # 15 s each: 5
    assert size_lines(steady, 0.0, 1.0, 100.0).lines == 10
    assert sizing.reason.startswith("22 lines (-u) = ceil(2 x 6.0 conversations in progress + 10): 1,200/h x 18.0 s")


def dry_run(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, str], list[str]]:
    """Exit code, the Locust command's options (flag -> value) and the lines said on stderr."""
    result = turnbench("run", "--host", "http://127.0.0.1:9", *args, "--dry-run", env=env, timeout=60)
    words = result.stdout.split()
    flags = {word: words[i + 1] for i, word in enumerate(words[:-1]) if word.startswith("-")}
    return result.returncode, flags, result.stderr.strip().splitlines()


def test_a_dry_run_shows_the_rate_per_hour_and_the_lines_chosen() -> None:
    code, flags, said = dry_run("--arrival-rate", "20/min", "--warmup", "1m30s", "-t", "5m")
    assert code == 0 and flags["--arrival-rate"] == "1200" and flags["--warmup"] == "90"
    (line,) = said
    lines = flags["-u"]
    assert line.startswith(f"turnbench run: --arrival-rate 1,200/h: {lines} lines (-u) = ceil(2 x ")
    assert line.endswith(f"all started within a second (-r {lines})") and flags["-r"] == lines
    code, flags, said = dry_run("--arrival-rate", "0.5/s", "-u", "7", "-r", "2")
    assert code == 0 and (flags["--arrival-rate"], flags["-u"], flags["-r"]) == ("1800", "7", "2") and not said
    code, flags, said = dry_run("-u", "3")  # closed loop: as before
    assert code == 0 and "--arrival-rate" not in flags and "--warmup" not in flags and not said


def test_arrival_settings_come_from_config_files_and_the_environment_too(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text('[run]\narrival_rate = "30/min"\nwarmup = "10s"\nusers = 4\n')
    code, flags, _ = dry_run("--config", str(config))
    assert code == 0 and (flags["--arrival-rate"], flags["--warmup"], flags["-u"]) == ("1800", "10", "4")
    code, flags, _ = dry_run("-u", "4", env={"TURNBENCH_ARRIVAL_RATE": "600", "TURNBENCH_WARMUP": "5"})
    assert code == 0 and (flags["--arrival-rate"], flags["--warmup"]) == ("600", "5")


def test_arrival_mistakes_are_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text("[run]\narrival_rate = true\n")
    rate = "expected a rate like 1200/h, 20/min or 0.5/s (a bare number is per hour)"
    cases = [
        (["--arrival-rate", "fast"], f"--arrival-rate: {rate}, got 'fast'"),
        (["--arrival-rate", "3/day"], f"--arrival-rate: {rate}, got '3/day'"),
        (["--arrival-rate", "-5"], f"--arrival-rate: {rate}, got '-5'"),
        (["--config", str(config)], f"{config}: [run] arrival_rate: {rate}, got True"),
        (["--warmup", "soon"], "--warmup: expected a duration like 20s, 2m or 1m30s (a bare number is seconds)"),
        (["--warmup", "60s", "-t", "60s"], "--warmup 60s leaves nothing of the 60s run (-t) to judge"),
        (["--arrival-rate", "10", "-u", "0"], "-u 0: --arrival-rate needs at least one line"),
        (["--arrival-rate", "10", "--shape", "StepRamp"], "--arrival-rate and --shape do not mix"),
    ]
    for args, message in cases:
        code, _, said = dry_run(*args)
        assert code == 2 and len(said) == 1 and message in said[0], (args, said)
