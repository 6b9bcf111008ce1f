"""`turnbench compare` twice in a row against the same emulated servers: every run starts cold, flushed where the
engine can flush and salted where it cannot, so the second pass's first turns find no more cached than the
first pass's did; the report says per target how each run started."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from deploy.emulator.profile import BUILTIN
from tests.turnbench.compare_setup import Compared, Engine, emulated_targets, run_compare, run_info

FAST = BUILTIN / "fast.toml"  # quick prefill: a turn 1 misses the cache only when nothing of it was cached
# A short fixed load: 12,000/h fills a 7.5 s window with 100 turns (turnbench.level_run); one run per target.
FIXED = ("--rate", "12000/h", "--repeats", "1", "-t", "5s", "--warmup", "2s")
LOCUST = ("--max-tokens", "32")
# A cold turn 1 may still find the chat template's opening tokens cached (SGLang matches token by token):
# fewer than one 16-token vLLM block, against a 7,000-token shared document.
TEMPLATE_TOKENS = 16
# Runs of one seed and arrival schedule come out alike (measured: equal to 4 places); a run that started warm
# would be about 0.024 higher (its first of about 40 turn 1s cached too).
SHARE_TOLERANCE = 0.01


def two_passes(folder: Path, engines: Sequence[Engine], second_extra: Sequence[str] = ()) -> tuple[Compared, Compared]:
    """The same compare twice in a row against the same servers (the second with `second_extra` too)."""
    with emulated_targets(folder, engines) as targets:
        first = run_compare(targets, folder / "first", FIXED, LOCUST, timeout_s=120)
        second = run_compare(targets, folder / "second", [*FIXED, *second_extra], LOCUST, timeout_s=120)
    print(f"two compares: {first.seconds:.0f} s and {second.seconds:.0f} s")
    return first, second


def turn_one(run_dir: Path) -> pd.DataFrame:
    """Successful first turns (a conversation's first ask), earliest first."""
    requests = pd.read_csv(run_dir / "requests.csv")
    first = requests[(requests["turn"] == 1) & requests["ok"]]
    return first.assign(cached_tokens=first["cached_tokens"].fillna(0)).sort_values("started_at")


def cached_share(run_dir: Path) -> float:
    rows = turn_one(run_dir)
    return float(rows["cached_tokens"].sum() / rows["prompt_tokens"].sum())


def check_cold_starts(first: Compared, second: Compared, name: str) -> None:
    """Each pass ran the target once; its first conversation found nothing of its prompt cached, and the
    second pass's turn-1 cached share is the first's (within-run sharing only, as before)."""
    [one], [two] = first.run_dirs(name), second.run_dirs(name)
    for run_dir in (one, two):
        earliest = turn_one(run_dir).iloc[0]
        assert earliest["cached_tokens"] <= TEMPLATE_TOKENS, (run_dir, earliest.to_dict())
        assert turn_one(run_dir)["cached_tokens"].max() > earliest["prompt_tokens"] / 2  # later ones share it
    assert cached_share(two) == pytest.approx(cached_share(one), abs=SHARE_TOLERANCE), name


def test_a_second_compare_finds_no_more_cached_than_the_first_each_run_flushed(tmp_path: Path) -> None:
    engines = [Engine("vllm", FAST), Engine("sglang", FAST, emulates="sglang")]
    first, second = two_passes(tmp_path, engines, second_extra=["--salt"])
    for compared, salted in ((first, False), (second, True)):  # --salt: salted although flushed
        state = "flushed and salted" if salted else "flushed"
        for name in ("vllm", "sglang"):
            [info] = [run_info(d) for d in compared.run_dirs(name)]
            assert info["cache_flushed"] is True and info["cache_flush"]["result"] == "flushed", info
            assert info["cache_salt"]["on"] is salted and info["cache_salt"]["kind"] == ("auto" if salted else "off")
            assert f"{name}: cache at start (1 run): 1 {state}\n" in compared.stdout
            assert compared.summary["targets"][name]["cache_start"][state.replace(" ", "_")] == 1
        assert not [w for w in compared.summary["warnings"] if w["kind"] == "cache_not_reset"]
    for name in ("vllm", "sglang"):
        check_cold_starts(first, second, name)


def test_a_target_that_cannot_flush_is_salted_and_starts_cold_each_time(tmp_path: Path) -> None:
    # An OpenAI-compatible API: no flush endpoint turnbench knows of, so every run is salted instead.
    first, second = two_passes(tmp_path, [Engine("hosted", FAST, engine="openai")])
    for compared in (first, second):
        [info] = [run_info(d) for d in compared.run_dirs("hosted")]
        assert info["cache_flushed"] is False
        assert info["cache_flush"] == {"result": "unsupported", "attempts": 0, "seconds": 0.0,
                                       "detail": "the openai engine has no cache-flush endpoint"}  # fmt: skip
        salt = info["cache_salt"]
        assert salt["on"] is True and salt["kind"] == "auto" and 0 < salt["tokens"] <= 8, salt
        assert "hosted: cache flushed: False; flush unsupported" in compared.stdout
        assert "hosted: cache at start (1 run): 1 salted; flush unsupported" in compared.stdout
    check_cold_starts(first, second, "hosted")
