"""Chunks as each engine really writes them (shapes from notes/engines-and-runpod.md section 7)."""

from __future__ import annotations

import pytest

from harness.client.dialect import BadChunk, cached_tokens, error_body_message, read_chunk

VLLM_ROLE = b'{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}'
VLLM_LAST = (
    b'{"id":"c1","choices":[{"index":0,"delta":{"content":" end"},"finish_reason":"length","stop_reason":null}]}'
)
VLLM_USAGE = b'{"id":"c1","choices":[],"usage":{"prompt_tokens":11,"total_tokens":14,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":0,"created_cache_tokens":0}}}'
SGLANG_TOKEN = b'{"id": "s1", "choices": [{"index": 0, "delta": {"role": null, "content": "hi", "reasoning_content": null, "tool_calls": null}, "logprobs": null, "finish_reason": null, "matched_stop": null}], "usage": null}'
SGLANG_FINISH = b'{"id": "s1", "choices": [{"index": 0, "delta": {"role": null, "content": null, "reasoning_content": null, "tool_calls": null}, "finish_reason": "stop", "matched_stop": 2}], "usage": null}'
SGLANG_USAGE = b'{"id": "s1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11, "prompt_tokens_details": null}}'


def test_the_role_only_chunk_carries_no_token() -> None:
    assert not read_chunk(VLLM_ROLE).has_token


def test_vllm_finishes_on_the_last_delta_and_reports_usage_apart() -> None:
    last, usage = read_chunk(VLLM_LAST), read_chunk(VLLM_USAGE)
    assert (last.content, last.finish_reason, last.usage) == (" end", "length", None)
    assert usage.usage is not None and usage.usage["completion_tokens"] == 3
    assert cached_tokens(usage.usage) == 0


def test_sglang_nulls_and_separate_finish_chunk() -> None:
    token, finish, usage = read_chunk(SGLANG_TOKEN), read_chunk(SGLANG_FINISH), read_chunk(SGLANG_USAGE)
    assert (token.content, token.reasoning, token.finish_reason, token.usage) == ("hi", "", None, None)
    assert not finish.has_token and finish.finish_reason == "stop"
    assert usage.usage is not None and cached_tokens(usage.usage) is None  # null details: not reported


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_reasoning_under_either_name_is_a_token(field: str) -> None:
    chunk = read_chunk(b'{"choices":[{"index":0,"delta":{"%s":"think"}}]}' % field.encode())
    assert chunk.has_token and chunk.reasoning == "think" and chunk.content == ""


def test_a_build_that_sends_both_reasoning_names_is_not_counted_twice() -> None:
    chunk = read_chunk(b'{"choices":[{"delta":{"reasoning":"a","reasoning_content":"a"}}]}')
    assert chunk.reasoning == "a"


@pytest.mark.parametrize(
    "payload",
    [
        b'{"error":{"message":"boom","type":"InternalServerError","param":null,"code":500}}',
        b'{"error":{"object":"error","message":"boom","type":"BadRequestError","param":null,"code":400}}',
        b'{"object":"error","message":"boom","type":"BadRequestError","param":null,"code":400}',
    ],
)
def test_in_stream_errors_in_every_shape(payload: bytes) -> None:
    assert read_chunk(payload).error == "boom"


@pytest.mark.parametrize("payload", [b'{"id": "x", "choices": [', b"[1, 2]", b"\xff\xfe"])
def test_bad_json_is_rejected(payload: bytes) -> None:
    with pytest.raises(BadChunk):
        read_chunk(payload)


def test_error_bodies_give_the_servers_words() -> None:
    assert (
        error_body_message(b'{"error":{"message":"The model `x` does not exist."}}') == "The model `x` does not exist."
    )
    assert error_body_message(b'{"object":"error","message":"bad"}') == "bad"
    assert error_body_message(b'{"detail":"Not Found"}') == "Not Found"
    assert error_body_message(b"<html>502 Bad Gateway</html>") == "<html>502 Bad Gateway</html>"
