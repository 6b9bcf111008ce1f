"""Fixtures for deploy's tests: a fake Runpod on 127.0.0.1, fake secrets, and the deploy command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.fake_runpod import FAKE_RUNPOD_KEY, FakeRunpod, running_fake_runpod

ROOT = Path(__file__).resolve().parents[2]
ENGINE_KEY = "engkey_FAKE_0123456789abcdef"
HF_TOKEN = "hf-fake-token-0123-4567-89XYZ"
SECRETS = (FAKE_RUNPOD_KEY, ENGINE_KEY, HF_TOKEN)


@pytest.fixture
def fake() -> Iterator[FakeRunpod]:
    with running_fake_runpod() as server:
        yield server


@pytest.fixture
def env(tmp_path: Path, fake: FakeRunpod) -> dict[str, str]:
    """The environment of a user with keys set, whose Runpod API is the fake (and nothing else is reachable)."""
    home = tmp_path / "home"
    home.mkdir()
    base = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return {
        **base,
        "HOME": str(home),  # never a real ~/.runpod or ~/.cache here
        "RUNPOD_API_BASE_URL": fake.url,
        "TURNBENCH_RUNPOD_BACKOFF_S": "0.01",  # retries after 5xx and lost connections, in milliseconds
        "RUNPOD_API_KEY": FAKE_RUNPOD_KEY,
        "TURNBENCH_ENGINE_API_KEY": ENGINE_KEY,
        "HF_TOKEN": HF_TOKEN,
        "NO_PROXY": "127.0.0.1,localhost",
    }


def deploy_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "turnbench", "deploy", *args]


def run_deploy(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(deploy_command(*args), capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def fast_up(fake: FakeRunpod, targets: Path, *extra: str) -> list[str]:
    """`up` arguments that talk to the fake and poll quickly."""
    return ["up", "--targets", str(targets), "--proxy-url-template", fake.proxy_template(),
            "--poll-interval", "0.05s", "--timeout", "20s", *extra]  # fmt: skip


def leaked_secrets(directory: Path, *texts: str) -> list[str]:
    """Files under `directory` (and texts) that contain any secret; the answer must be empty."""
    found = []
    for path in [p for p in directory.rglob("*") if p.is_file()]:
        data = path.read_bytes()
        found += [f"{path}: {s[:6]}..." for s in SECRETS if s.encode() in data]
    for i, text in enumerate(texts):
        found += [f"output {i}: {s[:6]}..." for s in SECRETS if s in text]
    return found


def error_lines(stderr: str) -> list[str]:
    """Lines that are not indented progress: a failure must leave exactly one, and no traceback."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("  ")]
