"""The emulator as a server: one engine (vLLM-like or SGLang-like) behind its own endpoints.

Use it in the foreground (`turnbench emulate`), from asyncio code (`await Emulator(...).start()`),
or as a subprocess from gevent code and tests (`deploy.emulator.process.running_emulator`).
Everything it reports is a model of an engine; `/version` and `/get_server_info` say so.
"""

from __future__ import annotations

import asyncio
import gc
import json
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path

from deploy.emulator.cache.block_cache import BlockCache
from deploy.emulator.cache.prefix_cache import PrefixCache
from deploy.emulator.cache.radix_cache import RadixCache
from deploy.emulator.chat import ChatEndpoint
from deploy.emulator.dialects import DIALECTS
from deploy.emulator.engine import Engine
from deploy.emulator.faults import FaultPlan
from deploy.emulator.http import KEEP_ALIVE_TIMEOUT_S, HttpProtocol, HttpRequest, Responder
from deploy.emulator.metrics import EngineMetrics
from deploy.emulator.profile import Profile, load_profile
from deploy.emulator.truth import Truth
from deploy.engines import LAUNCHABLE

# What SGLang 0.5's /flush_cache answers, flushed (200) or not (400) alike (http_server.py flush_cache).
SGLANG_FLUSH_TEXT = (
    b"Cache flushed.\nPlease check backend logs for more details. "
    b"(When there are running or waiting requests, the operation will not be performed.)\n"
)


@dataclass(frozen=True)
class EmulatorConfig:
    engine: str
    host: str = "127.0.0.1"
    port: int = 0
    model: str = "emulated"
    profile: Profile = field(default_factory=load_profile)
    faults: FaultPlan = field(default_factory=lambda: FaultPlan({}))
    seed: int = 0
    truth_csv: Path | None = None
    keep_alive_timeout_s: float = KEEP_ALIVE_TIMEOUT_S  # close a connection idle this long; 0: never

    def __post_init__(self) -> None:
        if self.engine not in LAUNCHABLE:
            raise ValueError(f"unknown engine {self.engine!r}; choose vllm or sglang")
        if not self.keep_alive_timeout_s >= 0:  # NaN too
            raise ValueError(f"--keep-alive-timeout: expected seconds >= 0, got {self.keep_alive_timeout_s:g}")


class Emulator:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.dialect = DIALECTS[config.engine]
        budget = config.profile.kv_budget_tokens
        cache: PrefixCache = RadixCache(budget) if config.engine == "sglang" else BlockCache(budget)
        self.engine = Engine(config.profile, cache, seed=config.seed)
        self.truth = Truth(config.truth_csv)
        self.metrics = EngineMetrics(self.engine, config.engine, config.model)
        self.chat = ChatEndpoint(self.engine, self.dialect, config.model, self.truth, config.faults, config.seed)
        self.ready = False
        self.url = ""
        self._server: asyncio.Server | None = None
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpProtocol(self.handle, self.config.keep_alive_timeout_s),
            self.config.host,
            self.config.port,
            backlog=2048,
        )
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://{self.config.host}:{port}"
        self._loop_task = loop.create_task(self.engine.run())
        self.ready = True
        return self.url

    async def stop(self) -> None:
        self.ready = False
        if self._server is not None:
            self._server.close()
        if self._loop_task is not None:
            self._loop_task.cancel()
        self.truth.close()

    async def handle(self, request: HttpRequest, responder: Responder) -> None:
        route = (request.method, request.path)
        if route == ("POST", "/v1/chat/completions"):
            if not self.ready:
                responder.send(503, self.dialect.error_body("the server is starting", 503))
                return
            await self.chat.handle(request, responder)
        elif route == ("GET", "/health"):
            responder.send(200 if self.ready else 503, b"")
        elif route == ("GET", "/v1/models"):
            responder.send(200, self.dialect.models(self.config.model, self.config.profile.max_model_len))
        elif route == ("GET", "/metrics"):
            responder.send(200, self.metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
        elif route == ("POST", self.dialect.engine.flush_path):
            self._flush(responder)
        elif route == ("GET", self.dialect.engine.version_path):
            info: dict[str, object] = {"version": f"{self.dialect.version} (turnbench emulator)", "emulator": True}
            if self.config.engine == "sglang":  # /get_server_info lists SGLang's arguments: the profile stands in
                info["profile"] = self.config.profile.to_dict()
            setting = self.dialect.engine.cached_tokens_setting
            if setting:  # it always reports cached tokens, as an engine launched with its cached_tokens_flag
                info[setting] = True
            responder.send(200, _json(info))
        elif route == ("GET", "/emulator/truth"):
            records = [asdict(r) for r in self.truth.records]
            if request.query.get("clear") == ["1"]:
                self.truth.records.clear()
            responder.send(200, _json(records))
        elif route == ("GET", "/emulator/stats"):
            stats = {"lateness": self.truth.lateness(), "running": len(self.engine.running)}
            stats.update(waiting=len(self.engine.waiting), kv_usage=self.engine.kv_usage())
            stats.update(cache_tokens=self.engine.cache.size, profile=self.config.profile.name)
            if request.query.get("reset") == ["1"]:
                self.truth.reset_lateness()
            responder.send(200, _json(stats))
        else:
            responder.send(404, b'{"detail":"Not Found"}')

    def _flush(self, responder: Responder) -> None:
        if self.config.engine == "sglang":
            # SGLang 0.5 flushes only when no request runs or waits, and leaves the cache as it is otherwise
            # (its scheduler's flush_cache): 400 then, with the same text as a 200.
            idle = not self.engine.running and not self.engine.waiting
            if idle:
                self.engine.cache.reset()
            responder.send(200 if idle else 400, SGLANG_FLUSH_TEXT, "text/plain")
        else:
            responder.send(200 if self.engine.cache.reset() else 400, b"")


def _json(obj: object) -> bytes:
    return json.dumps(obj).encode()


async def serve_forever(config: EmulatorConfig, announce: bool = True) -> None:
    """Run until SIGINT or SIGTERM, then stop cleanly (open streams are cut, the truth CSV is closed)."""
    emulator = Emulator(config)
    url = await emulator.start()
    # Everything built at start-up lives for the whole run: keep the collector from rescanning it,
    # and collect young objects less often, so no step is delayed by a long collection.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    if announce:
        print(f"{config.engine} emulator listening on {url} (profile {config.profile.name})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await emulator.stop()
