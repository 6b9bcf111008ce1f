"""Flushing a target's prefix cache before a run, waiting for the engine to be idle, and saying what happened.

A flush is only worth something when it happened, and an engine may refuse it: SGLang 0.5 answers
400 while any request runs or waits (its scheduler's flush_cache), so a flush right after a level
whose last turns are still streaming, or while someone else uses the server, is retried with a
growing pause until the engine is idle or FLUSH_WAIT_S has passed. vLLM serves its endpoint only in
dev mode (404 otherwise), and an OpenAI-compatible API has none: such a run cannot start flushed,
and `compare` salts its prompts instead (harness.scenario.salt). What was done goes into run.json
as `cache_flush` (harness.recording.run_dir.CacheFlushInfo).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Literal

from deploy.engines import engine_named
from deploy.targets import Target
from harness.recording.run_dir import CacheFlushInfo

# How long a flush waits for the engine to go idle. A level ends once its turns in flight are done
# (turnbench run drains it), so a refusal after that is someone else's traffic or a straggler; a
# server still busy after this long is not going to be idle before the run, which is salted instead.
FLUSH_WAIT_S = 30.0
RETRY_PAUSES_S = (0.1, 0.2, 0.5, 1.0, 2.0)  # between refused attempts; the last one repeats
REQUEST_TIMEOUT_S = 30.0  # one flush request: dropping a large cache takes a moment on a real engine
DETAIL_CHARS = 200  # of a server's answer, kept for people

FlushResult = Literal["flushed", "busy", "unsupported", "failed"]


@dataclass(frozen=True)
class CacheFlush:
    """What a flush before a run did: flushed; busy (refused until the wait ran out); unsupported (no
    endpoint); failed (any other answer, or no answer)."""

    result: FlushResult
    attempts: int
    seconds: float
    detail: str

    @property
    def flushed(self) -> bool:
        return self.result == "flushed"

    def record(self) -> CacheFlushInfo:
        return {"result": self.result, "attempts": self.attempts, "seconds": round(self.seconds, 2),
                "detail": self.detail}  # fmt: skip

    def describe(self) -> str:
        """One phrase for compare's output, e.g. "busy after 14 attempts in 30 s"."""
        tried = f" after {self.attempts} attempts in {self.seconds:.0f} s" if self.attempts > 1 else ""
        return f"{self.result}{tried}" if self.flushed else f"{self.result}{tried} ({self.detail})"


def flush_cache(target: Target, wait_s: float = FLUSH_WAIT_S) -> CacheFlush:
    """Ask the target's engine to drop its whole prefix cache, retrying while it is busy, for at most `wait_s`."""
    engine = engine_named(target.engine)
    if engine.flush_path is None:
        return CacheFlush("unsupported", 0, 0.0, f"the {engine.name} engine has no cache-flush endpoint")
    api_key = os.environ.get(target.api_key_env) if target.api_key_env else None
    admin_key = None
    if target.admin_key_env:
        admin_key = os.environ.get(target.admin_key_env)
        if not admin_key:
            return CacheFlush("failed", 0, 0.0, f"admin_key_env names {target.admin_key_env}, which is not set")
    url = f"{target.base_url}{engine.flush_path}"
    headers = engine.flush_headers(api_key, admin_key)
    began = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        result, detail = _ask(url, headers)
        elapsed = time.monotonic() - began
        pause = RETRY_PAUSES_S[min(attempts, len(RETRY_PAUSES_S)) - 1]
        if result != "busy" or elapsed + pause > wait_s:
            if result == "busy":
                detail = f"still busy after {elapsed:.0f} s: {detail}"
            return CacheFlush(result, attempts, elapsed, detail)
        time.sleep(pause)


def _ask(url: str, headers: dict[str, str]) -> tuple[FlushResult, str]:
    request = urllib.request.Request(url, data=b"", method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        if error.code == 400:  # SGLang 0.5's only reason to refuse (its text is the same as when it flushes)
            return "busy", f"POST {url} answered 400: requests were running or waiting"
        said = f"POST {url} answered {error.code}: {_text(error.read())}"
        if error.code in (404, 405):  # vLLM >= 0.10 without VLLM_SERVER_DEV_MODE=1 mounts no such route
            return "unsupported", f"{said}; vLLM serves it only with VLLM_SERVER_DEV_MODE=1"
        if error.code in (401, 403):
            return "failed", f"{said}; an SGLang started with --admin-api-key wants that key: name its variable " \
                             "as admin_key_env in targets.toml"  # fmt: skip
        return "failed", said
    except (urllib.error.URLError, OSError) as exc:
        return "failed", f"POST {url}: {getattr(exc, 'reason', exc)}"
    # Some vLLM releases answer 200 {"success": false} while running requests hold blocks (vLLM logs
    # "Failed to reset prefix cache"); the others answer 200 with no body either way.
    try:
        answer = json.loads(body)
    except ValueError:
        return "flushed", ""
    if isinstance(answer, dict) and answer.get("success") is False:
        return "busy", f"POST {url} answered 200 {_text(body)}"
    return "flushed", ""


def _text(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", errors="replace").split())
    return text[:DETAIL_CHARS] or "(no body)"
