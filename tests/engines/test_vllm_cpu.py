"""The client against a real vLLM (CPU build, tiny model): the numbers a user would check first."""

from __future__ import annotations

import urllib.request

import pytest
from gevent.pool import Group

from harness.client.chat_client import ChatClient
from harness.client.request import ChatRequest, user_message
from harness.client.turn_result import ErrorKind
from tests.engines.vllm_cpu import SERVED_NAME

pytestmark = pytest.mark.engine


def long_prompt(words: int, salt: str) -> str:
    # About one token per word with the tiny model's tokenizer; the salt keeps tests' caches apart.
    return " ".join(f"{salt}{i % 97}" for i in range(words))


def test_a_repeated_prompt_is_served_from_the_prefix_cache(vllm_url: str) -> None:
    client = ChatClient.standalone(vllm_url)
    request = ChatRequest(SERVED_NAME, [user_message(long_prompt(500, "cache"))], max_tokens=16)
    first, second = client.send(request), client.send(request)
    assert first.ok and second.ok, (first.error, second.error)
    assert first.prompt_tokens is not None and first.prompt_tokens >= 1000
    assert not first.cached_tokens  # 0 as vLLM reports it on a cold cache
    assert second.cached_tokens and second.cached_tokens > 0
    assert second.cached_tokens <= second.prompt_tokens == first.prompt_tokens  # type: ignore[operator]
    assert second.ttft_ms is not None and first.ttft_ms is not None and second.ttft_ms < first.ttft_ms


def test_completions_run_to_max_tokens_and_counts_come_from_usage(vllm_url: str) -> None:
    client = ChatClient.standalone(vllm_url)
    result = client.send(ChatRequest(SERVED_NAME, [user_message("Say something.")], max_tokens=24))
    assert result.ok, result.error
    assert (result.completion_tokens, result.finish_reason) == (24, "length")
    assert 0 < result.token_events <= 24  # vLLM may merge partial UTF-8 tokens into one event
    # A tiny model on a fast CPU can deliver the whole stream in one read: then the first token and the
    # end arrive at the same instant, and equal TTFT and E2E are the true figures.
    assert result.ttft_ms is not None and 0 < result.ttft_ms <= result.e2e_ms and result.tpot_ms is not None
    assert result.content and result.response_id and result.response_id.startswith("chatcmpl-")


def test_a_wrong_model_name_is_an_http_4xx_with_the_servers_message(vllm_url: str) -> None:
    result = ChatClient.standalone(vllm_url).send(ChatRequest("no-such-model", [user_message("hi")], max_tokens=4))
    assert result.error_kind is ErrorKind.HTTP_4XX and result.http_status == 404
    assert "no-such-model" in (result.error or "") and "does not exist" in (result.error or "")


def test_concurrent_streams_are_each_whole(vllm_url: str) -> None:
    client = ChatClient.standalone(vllm_url, concurrency=4)
    group = Group()
    jobs = [
        group.spawn(client.send, ChatRequest(SERVED_NAME, [user_message(f"question {i}")], max_tokens=12))
        for i in range(4)
    ]
    group.join(timeout=120)
    results = [job.get() for job in jobs]
    assert all(r.ok and r.completion_tokens == 12 for r in results), [r.error for r in results]
    assert len({r.response_id for r in results}) == 4


def test_the_prefix_cache_metrics_the_scraper_will_read_exist(vllm_url: str) -> None:
    with urllib.request.urlopen(f"{vllm_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    assert "vllm:prefix_cache_queries_total" in text and "vllm:prefix_cache_hits_total" in text


def stream_shape(url: str) -> list[object]:
    """The structure of a stream: per event, its kind and the fields present; repeats folded."""
    import json

    body = {
        "model": SERVED_NAME,
        "messages": [{"role": "user", "content": "Describe the sea."}],
        "max_tokens": 6,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    request = urllib.request.Request(
        f"{url}/v1/chat/completions", json.dumps(body).encode(), {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        payloads = [line[6:] for line in response.read().decode().split("\n\n") if line.startswith("data: ")]
    shape: list[object] = []
    for payload in payloads:
        if payload == "[DONE]":
            item: object = "[DONE]"
        else:
            chunk = json.loads(payload)
            choice = chunk["choices"][0] if chunk["choices"] else {}
            usage = chunk.get("usage") or {}
            details = usage.get("prompt_tokens_details") or {}
            item = (
                sorted(chunk),
                sorted(choice),
                sorted(choice.get("delta", {})),
                choice.get("finish_reason"),
                sorted(usage),
                sorted(details),
            )
        if not shape or shape[-1] != item:
            shape.append(item)
    return shape


def test_the_vllm_emulator_streams_what_real_vllm_streams(vllm_url: str) -> None:
    from deploy.emulator.process import running_emulator

    with running_emulator("vllm", "--profile", "fast", "--model", SERVED_NAME) as emulator_url:
        assert stream_shape(emulator_url) == stream_shape(vllm_url)
