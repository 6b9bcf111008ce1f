"""The flush before a run, against real servers on 127.0.0.1: an SGLang emulator busy with a request refuses it
(400) and the flush is retried until the engine is idle, or recorded as not flushed once the wait runs out; a
server without the endpoint is "unsupported"; the admin key goes where SGLang wants it, named in targets.toml."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deploy.emulator.process import running_emulator
from deploy.targets import Target, load_targets, write_targets
from harness.client.chat_client import ChatClient
from harness.client.request import ChatRequest, user_message
from turnbench.cache_flush import flush_cache
from turnbench.compare import flush

MODEL = "emulated"
STEP_S = 0.02  # the fast profile's time per token


@pytest.fixture(scope="module")
def sglang() -> Iterator[str]:
    with running_emulator("sglang", "--profile", "fast", "--model", MODEL) as url:
        yield url


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/emulator/stats", timeout=10) as response:
        found: dict[str, int] = json.load(response)
    return found


@contextlib.contextmanager
def answering(url: str, seconds: float) -> Iterator[None]:
    """A request streaming for about `seconds` while the block runs (it has started when the block begins)."""
    tokens = round(seconds / STEP_S)
    request = ChatRequest(MODEL, [user_message(f"a long answer, please ({time.time()})")], tokens, min_tokens=tokens)
    thread = threading.Thread(target=ChatClient.standalone(url).send, args=(request,))
    thread.start()
    deadline = time.monotonic() + 10
    while stats(url)["running"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stats(url)["running"] == 1
    try:
        yield
    finally:
        thread.join(timeout=seconds + 10)


def cached_something(url: str) -> None:
    result = ChatClient.standalone(url).send(ChatRequest(MODEL, [user_message("remember me " * 50)], 2))
    assert result.ok, result.error
    assert stats(url)["cache_tokens"] > 0


def test_a_flush_refused_while_sglang_is_busy_is_retried_until_it_is_idle(sglang: str) -> None:
    cached_something(sglang)
    with answering(sglang, seconds=1.5):
        done = flush_cache(Target("sglang-emulated", "sglang", sglang, MODEL))
    assert done.result == "flushed" and done.flushed, done
    assert done.attempts > 1 and done.seconds > 0.5, done  # refused at first: the request was still streaming
    assert stats(sglang)["cache_tokens"] == 0
    assert done.record() == {"result": "flushed", "attempts": done.attempts, "seconds": round(done.seconds, 2),
                             "detail": ""}  # fmt: skip


def test_a_flush_that_stays_refused_past_the_wait_is_recorded_busy_and_the_cache_kept(sglang: str) -> None:
    cached_something(sglang)
    with answering(sglang, seconds=3.0):
        done = flush_cache(Target("sglang-emulated", "sglang", sglang, MODEL), wait_s=1.0)
        assert stats(sglang)["cache_tokens"] > 0  # SGLang flushes nothing while it refuses
    assert done.result == "busy" and not done.flushed, done
    assert done.attempts >= 3 and 0.5 < done.seconds <= 1.0, done
    assert "answered 400" in done.detail and "running or waiting" in done.detail, done.detail


def test_a_server_without_the_endpoint_is_unsupported(sglang: str) -> None:
    # A vLLM target that is not in dev mode answers 404, as this SGLang emulator does to vLLM's path.
    done = flush_cache(Target("no-dev-mode", "vllm", sglang, MODEL))
    assert (done.result, done.attempts) == ("unsupported", 1), done
    assert "404" in done.detail and "VLLM_SERVER_DEV_MODE=1" in done.detail
    hosted = flush_cache(Target("hosted", "openai", sglang, MODEL))
    assert (hosted.result, hosted.attempts) == ("unsupported", 0), hosted
    assert flush(Target("hosted", "openai", sglang, MODEL)) is None  # compare's yes/no/none reading of it


class _AdminOnly(BaseHTTPRequestHandler):
    """An SGLang started with --admin-api-key: /flush_cache opens to that key only (ADMIN_OPTIONAL)."""

    seen: list[str | None] = []

    def do_POST(self) -> None:
        authorization = self.headers.get("Authorization")
        self.seen.append(authorization)
        ok = authorization == "Bearer admin-secret"
        self.send_response(200 if ok else 401)
        body = b"Cache flushed.\n" if ok else b'{"error":"Unauthorized"}'
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def admin_only() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AdminOnly)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _AdminOnly.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_admin_key_named_in_targets_toml_opens_the_flush(admin_only: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("TB_TEST_API_KEY", "api-secret")
    monkeypatch.setenv("TB_TEST_ADMIN_KEY", "admin-secret")
    path = tmp_path / "targets.toml"
    write_targets(path, [Target("sg", "sglang", admin_only, MODEL, api_key_env="TB_TEST_API_KEY",
                                admin_key_env="TB_TEST_ADMIN_KEY")])  # fmt: skip
    text = path.read_text()
    assert 'admin_key_env = "TB_TEST_ADMIN_KEY"' in text and "secret" not in text  # the name, never the key
    [target] = load_targets(path)
    assert target.admin_key_env == "TB_TEST_ADMIN_KEY"
    assert flush_cache(target).flushed
    assert _AdminOnly.seen == ["Bearer admin-secret"]

    refused = flush_cache(Target("sg", "sglang", admin_only, MODEL, api_key_env="TB_TEST_API_KEY"))
    assert refused.result == "failed" and "401" in refused.detail and "admin_key_env" in refused.detail, refused
    assert _AdminOnly.seen[-1] == "Bearer api-secret"  # without one, the API key goes, as before

    monkeypatch.delenv("TB_TEST_ADMIN_KEY")
    unset = flush_cache(target)
    assert (unset.result, unset.attempts) == ("failed", 0) and "TB_TEST_ADMIN_KEY" in unset.detail, unset
