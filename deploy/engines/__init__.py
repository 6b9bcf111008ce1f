"""What turnbench knows about each engine, one module per engine (vllm, sglang, openai), each one
frozen `Engine`: flush path and key, version endpoint, metric names, cached-token reporting, quirks.

The lowest layer of deploy: imports nothing of the project but its own modules, so the client, the
scraper, compare, deploy and the emulator can all read it.
"""

from __future__ import annotations

from collections.abc import Mapping

from deploy.engines.engine import COMMON_METRICS, Engine
from deploy.engines.openai import OPENAI
from deploy.engines.sglang import SGLANG
from deploy.engines.vllm import VLLM

# Every engine a target may name, by name.
ENGINES: Mapping[str, Engine] = {engine.name: engine for engine in (VLLM, SGLANG, OPENAI)}
# The engines turnbench launches at parity (deploy.parity) and emulates (deploy.emulator).
LAUNCHABLE = (VLLM.name, SGLANG.name)


def engine_named(name: str) -> Engine:
    """The engine called `name`, or a ValueError listing the names there are."""
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}") from None


__all__ = ["COMMON_METRICS", "ENGINES", "LAUNCHABLE", "OPENAI", "SGLANG", "VLLM", "Engine", "engine_named"]
