"""The emulator's timing model, measured from outside: prefill, queueing and cache hits move TTFT."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gevent.pool import Group

from deploy.emulator.process import running_emulator
from harness.client.chat_client import ChatClient
from harness.client.request import ChatRequest, user_message

PROFILE = """
description = "slow prefill, two sequences at a time"
[kv]
budget_tokens = 100000
max_model_len = 16384
[scheduler]
max_running = 2
prefill_chunk_tokens = 4096
[step]
base_ms = 5.0
prefill_ms_per_token = 0.1
decode_ms_per_seq = 0.0
kv_ms_per_1k_tokens = 0.0
[output]
mean_tokens = 20
sigma = 0.1
reasoning_share = 0.0
"""


@pytest.fixture(scope="module", params=["vllm", "sglang"])
def url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    profile = tmp_path_factory.mktemp("profile") / "slow-prefill.toml"
    profile.write_text(PROFILE)
    with running_emulator(request.param, "--profile", str(profile), "--model", "m") as base:
        yield base


def prompt(words: int, salt: str) -> str:
    return " ".join(f"{salt}{i}" for i in range(words))


def ttft(client: ChatClient, text: str, max_tokens: int = 4) -> float:
    result = client.send(ChatRequest("m", [user_message(text)], max_tokens, ignore_eos=True))
    assert result.ok and result.ttft_ms is not None, result.error
    return result.ttft_ms


def test_ttft_grows_with_uncached_prompt_tokens(url: str) -> None:
    client = ChatClient.standalone(url)
    short, long = ttft(client, prompt(50, "a")), ttft(client, prompt(1500, "b"))
    # ~3,000 more prompt tokens at 0.1 ms each: the long prompt's prefill shows in its TTFT.
    assert long - short > 150


def test_a_cached_prompt_is_faster_than_the_same_prompt_cold(url: str) -> None:
    client = ChatClient.standalone(url)
    text = prompt(1500, "c")
    cold, warm = ttft(client, text), ttft(client, text)
    assert warm < cold / 3


def test_ttft_grows_with_queue_depth(url: str) -> None:
    client = ChatClient.standalone(url, concurrency=6)
    group = Group()
    jobs = [group.spawn(ttft, client, prompt(20, f"q{i}-"), 10) for i in range(6)]
    group.join(timeout=60)
    ttfts = sorted(job.get() for job in jobs)
    # Two run at a time, each ~10 steps: the last pair waits for two pairs ahead of it.
    assert ttfts[-1] > ttfts[0] + 80
    assert ttfts[2] > ttfts[1] + 30


def test_profile_files_are_read_as_written(tmp_path: Path) -> None:
    from deploy.emulator.profile import load_profile

    path = tmp_path / "p.toml"
    path.write_text(PROFILE)
    profile = load_profile(path)
    assert profile.max_running == 2 and profile.step_ms(1000, 2, 0) == pytest.approx(105.0)
