from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.emulator.process import running_emulator

MODEL = "emulated"


@pytest.fixture(scope="session", params=["vllm", "sglang"])
def emulator(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(engine, base URL) of an emulator on the fast profile, once per engine."""
    with running_emulator(request.param, "--profile", "fast", "--model", MODEL) as url:
        yield request.param, url
