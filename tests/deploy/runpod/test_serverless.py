"""Runpod serverless endpoints as targets: the OpenAI path, per-GPU-second billing, the Runpod key."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.errors import DeployError
from deploy.runpod.serverless import serverless_targets
from deploy.targets import load_targets
from tests.deploy.conftest import run_deploy


def test_base_url_stops_at_openai_because_the_harness_adds_v1() -> None:
    vllm, sglang = serverless_targets({"vllm": "abc123xyz", "sglang": "def456uvw"})
    assert vllm.base_url == "https://api.runpod.ai/v2/abc123xyz/openai"
    assert vllm.base_url + "/v1/chat/completions" == "https://api.runpod.ai/v2/abc123xyz/openai/v1/chat/completions"
    assert (vllm.engine, sglang.engine) == ("vllm", "sglang") and vllm.api_key_env == "RUNPOD_API_KEY"
    assert vllm.billing["kind"] == "serverless" and vllm.billing["usd_per_gpu_second"] == 0.00116
    assert vllm.gpu_count == 2 and vllm.metrics_url is None
    assert "cold start" in vllm.launch["cold_start"] and sglang.launch["worker"] == "worker-sglang"
    assert "--enable-cache-report" in sglang.launch["note"]


def test_an_id_that_is_not_an_endpoint_id_is_refused() -> None:
    with pytest.raises(DeployError, match="--sglang-endpoint"):
        serverless_targets({"vllm": "abc123xyz", "sglang": "https://api.runpod.ai/v2/x"})


def test_the_command_writes_a_targets_file_compare_can_load(tmp_path: Path, env: dict) -> None:
    targets_file = tmp_path / "targets.toml"
    result = run_deploy("serverless", "--vllm-endpoint", "abc123xyz", "--sglang-endpoint", "def456uvw",
                        "--targets", str(targets_file), env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    loaded = load_targets(targets_file)
    assert [t.name for t in loaded] == ["vllm-serverless", "sglang-serverless"]
    assert loaded[1].billing["usd_per_gpu_second"] == 0.00116 and "RUNPOD_API_KEY" in result.stdout
    assert env["RUNPOD_API_KEY"] not in targets_file.read_text()
