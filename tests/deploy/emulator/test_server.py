"""The emulator over HTTP, as a client sees it: each engine's dialect, endpoints and errors."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from deploy.emulator.process import running_emulator
from harness.client.chat_client import ChatClient
from harness.client.request import ChatRequest, Message, user_message
from harness.client.turn_result import ErrorKind
from tests.deploy.emulator.conftest import MODEL


def http(url: str, body: dict[str, Any] | bytes | None = None, method: str | None = None) -> tuple[int, bytes]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def stream_events(url: str, body: dict[str, Any]) -> list[Any]:
    status, raw = http(f"{url}/v1/chat/completions", {**body, "stream": True})
    assert status == 200
    payloads = [line[6:] for line in raw.decode().split("\n\n") if line.startswith("data: ")]
    return [p if p == "[DONE]" else json.loads(p) for p in payloads]


def ask(words: str = "hello there", max_tokens: int = 5, **extra: Any) -> dict[str, Any]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": words}], "max_tokens": max_tokens}
    return {**body, "stream_options": {"include_usage": True}, **extra}


def test_stream_order_is_role_tokens_finish_usage_done(emulator: tuple[str, str]) -> None:
    engine, url = emulator
    events = stream_events(url, ask(max_tokens=4, ignore_eos=True))
    assert events[-1] == "[DONE]"
    usage_chunk, chunks = events[-2], events[:-2]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] == 4
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    finishes = [c["choices"][0]["finish_reason"] for c in chunks]
    assert finishes[-1] == "length" and not any(finishes[:-1])
    texts = [c["choices"][0]["delta"].get("content") for c in chunks[1:]]
    if engine == "vllm":  # the finish reason rides on the last token
        assert all(texts) and len(texts) == 4
    else:  # SGLang: a chunk of its own, every field present, nulls included
        assert all(texts[:-1]) and texts[-1] is None and len(texts) == 5
        assert all("usage" in c and "matched_stop" in c["choices"][0] for c in chunks)
        assert set(chunks[1]["choices"][0]["delta"]) == {"role", "content", "reasoning_content", "tool_calls"}


def test_usage_only_when_asked_the_way_each_engine_defaults(emulator: tuple[str, str]) -> None:
    engine, url = emulator
    events = stream_events(url, ask(stream_options={}))
    has_usage = any(isinstance(e, dict) and e.get("usage") for e in events)
    assert has_usage is (engine == "vllm")  # vLLM: include_usage defaults on with stream_options; SGLang: off


def test_unknown_model_is_404_on_vllm_and_echoed_on_sglang(emulator: tuple[str, str]) -> None:
    engine, url = emulator
    status, raw = http(f"{url}/v1/chat/completions", ask(model="someone-else"))
    if engine == "vllm":
        assert status == 404 and "`someone-else` does not exist" in json.loads(raw)["error"]["message"]
    else:
        assert status == 200 and json.loads(raw)["model"] == "someone-else"


@pytest.mark.parametrize(
    ("body", "param"),
    [(b"{not json", None), ({"model": MODEL, "messages": "hi", "max_tokens": 3}, "messages"),
     ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "max_tokens": 10**6}, "max_tokens")],
)  # fmt: skip
def test_bad_requests_get_the_engines_error_shape(emulator: tuple[str, str], body: Any, param: str | None) -> None:
    engine, url = emulator
    status, raw = http(f"{url}/v1/chat/completions", body)
    error = json.loads(raw)
    assert status == 400
    if engine == "vllm":
        assert error["error"]["code"] == 400 and error["error"]["param"] == param
    else:  # SGLang's pre-stream errors are flat
        assert error["object"] == "error" and error["code"] == 400


def test_the_client_reads_both_dialects_with_reasoning_and_exact_lengths(emulator: tuple[str, str]) -> None:
    _, url = emulator
    client = ChatClient.standalone(url)
    result = client.send(ChatRequest(MODEL, [user_message("Why is the sky blue?")], 12, min_tokens=12))
    assert result.ok, result.error
    assert (result.completion_tokens, result.token_events, result.finish_reason) == (12, 12, "length")
    assert len(result.content.split()) == 12


def test_natural_lengths_stop_early_with_stop(emulator: tuple[str, str]) -> None:
    _, url = emulator
    client = ChatClient.standalone(url)
    results = [client.send(ChatRequest(MODEL, [user_message(f"q{i}")], 200)) for i in range(6)]
    assert all(r.ok and r.completion_tokens and r.completion_tokens < 200 for r in results)
    assert {r.finish_reason for r in results} == {"stop"}
    assert len({r.completion_tokens for r in results}) > 1  # drawn, not fixed


def test_non_streaming_answers_once(emulator: tuple[str, str]) -> None:
    _, url = emulator
    status, raw = http(f"{url}/v1/chat/completions", ask(max_tokens=3, ignore_eos=True))
    body = json.loads(raw)
    assert status == 200 and body["object"] == "chat.completion"
    assert body["usage"]["completion_tokens"] == 3 and len(body["choices"][0]["message"]["content"].split()) == 3


def test_health_models_metrics_and_flush(emulator: tuple[str, str]) -> None:
    engine, url = emulator
    assert http(f"{url}/health")[0] == 200
    models = json.loads(http(f"{url}/v1/models")[1])
    assert models["data"][0]["id"] == MODEL
    ChatClient.standalone(url).send(ChatRequest(MODEL, [user_message("count me " * 40)], 2))
    metrics = http(f"{url}/metrics")[1].decode()
    names = {
        "vllm": ["vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total", "vllm:num_requests_running",
                 "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "vllm:time_to_first_token_seconds_count"],
        "sglang": ["sglang:cache_hit_rate", "sglang:num_running_reqs", "sglang:num_queue_reqs", "sglang:token_usage",
                   "sglang:cached_tokens_total", "sglang:prompt_tokens_total",
                   "sglang:time_to_first_token_seconds_count"],
    }[engine]  # fmt: skip
    for name in names:
        assert f"\n{name}{{" in metrics, name
    flush = "/reset_prefix_cache" if engine == "vllm" else "/flush_cache"
    assert http(f"{url}{flush}", b"", method="POST")[0] == 200
    assert json.loads(http(f"{url}/emulator/stats")[1])["cache_tokens"] == 0


def test_sglangs_flush_is_refused_while_a_request_runs_and_keeps_the_cache() -> None:
    with running_emulator("sglang", "--profile", "fast", "--model", MODEL) as url:
        ChatClient.standalone(url).send(ChatRequest(MODEL, [user_message("keep me " * 40)], 2))
        held = json.loads(http(f"{url}/emulator/stats")[1])["cache_tokens"]
        assert held > 0
        long_answer = ask(max_tokens=50, ignore_eos=True)  # 50 steps of 20 ms on the fast profile
        streaming = threading.Thread(target=http, args=(f"{url}/v1/chat/completions", long_answer))
        streaming.start()
        deadline = time.monotonic() + 10
        while json.loads(http(f"{url}/emulator/stats")[1])["running"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        status, text = http(f"{url}/flush_cache", b"", method="POST")
        stats = json.loads(http(f"{url}/emulator/stats")[1])
        streaming.join()
        assert status == 400 and text.startswith(b"Cache flushed.\n") and b"running or waiting requests" in text
        assert stats["running"] == 1 and stats["cache_tokens"] >= held  # nothing was dropped
        assert http(f"{url}/flush_cache", b"", method="POST") == (200, text)  # idle now: the same text, a 200
        assert json.loads(http(f"{url}/emulator/stats")[1])["cache_tokens"] == 0


def test_prefix_cache_reuse_is_reported_in_usage_and_metrics(emulator: tuple[str, str]) -> None:
    engine, url = emulator
    client = ChatClient.standalone(url)
    system: Message = {"role": "system", "content": "Policy. " + " ".join(f"clause{i} applies" for i in range(1200))}
    first = client.send(ChatRequest(MODEL, [system, user_message("Can I return shoes?")], 4))
    second = client.send(ChatRequest(MODEL, [system, user_message("Where is my parcel?")], 4))
    assert first.ok and second.ok and first.prompt_tokens and second.prompt_tokens
    assert not first.cached_tokens
    shared = second.prompt_tokens - 12  # all but the new question's few tokens
    assert second.cached_tokens is not None and second.cached_tokens >= shared - (16 if engine == "vllm" else 0)
    if engine == "vllm":
        assert second.cached_tokens % 16 == 0  # whole blocks only


def test_emulator_truth_matches_what_the_client_measured(emulator: tuple[str, str]) -> None:
    _, url = emulator
    client = ChatClient.standalone(url)
    client.send(ChatRequest(MODEL, [user_message("warm up the connection")], 2))
    http(f"{url}/emulator/truth?clear=1")
    results = [client.send(ChatRequest(MODEL, [user_message(f"question {i}")], 8, ignore_eos=True)) for i in range(5)]
    truth = {r["request_id"]: r for r in json.loads(http(f"{url}/emulator/truth")[1])}
    for r in results:
        t = truth[r.response_id or ""]
        assert r.completion_tokens == t["completion_tokens"] and r.prompt_tokens == t["prompt_tokens"]
        # Single samples on a 2-core machine: the 2 ms contract is checked on medians in tests/harness.
        assert r.ttft_ms == pytest.approx((t["first_token_sent"] - t["arrival"]) * 1000, abs=5.0)


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_every_fault_kind_reaches_the_client_as_that_kind(engine: str) -> None:
    from deploy.emulator.faults import KINDS
    from deploy.emulator.process import running_emulator
    from harness.client.chat_client import Timeouts

    for kind in KINDS:
        with running_emulator(engine, "--profile", "fast", "--model", MODEL, "--faults", f"{kind}=1") as url:
            client = ChatClient.standalone(url, timeouts=Timeouts(connect=2, first_token=0.5, stall=0.3))
            result = client.send(ChatRequest(MODEL, [user_message("hi")], 20, ignore_eos=True))
            assert result.error_kind is ErrorKind(kind), (kind, result.error)
