"""Runpod serverless endpoints as targets: the OpenAI path, per-GPU-second billing, the Runpod key; and
`deploy serverless` creating them against the fake REST v2, `down` deleting them, nothing left after a failure."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from deploy.errors import DeployError
from deploy.parity import DEFAULT_MODEL
from deploy.runpod.client import RunpodClient
from deploy.runpod.credentials import Credentials
from deploy.runpod.serverless import serverless_targets
from deploy.runpod.workers import WORKER_IMAGES
from deploy.state import state_path
from deploy.targets import load_targets
from tests.deploy.conftest import HF_TOKEN, ROOT, deploy_command, error_lines, leaked_secrets, run_deploy
from tests.deploy.fake_runpod import FAKE_RUNPOD_KEY, FakeRunpod, Problem
from tests.deploy.fake_runpod_rules import check_endpoint


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


# ---- create: endpoints made through REST v2, recorded, and deleted by `down` or on any failure


def test_create_writes_the_endpoints_urls_and_the_parity_env_and_down_deletes_them(
    tmp_path: Path, fake: FakeRunpod, env: dict
) -> None:
    targets_file = tmp_path / "targets.toml"
    result = run_deploy("serverless", "--targets", str(targets_file), env=env)
    assert result.returncode == 0, result.stderr

    vllm_id, sglang_id = fake.endpoints_alive()
    vllm, sglang = fake.endpoints[vllm_id], fake.endpoints[sglang_id]
    for endpoint, engine in ((vllm, "vllm"), (sglang, "sglang")):
        assert re.fullmatch(f"turnbench-{engine}-[0-9a-f]{{8}}", endpoint["name"]) and endpoint["type"] == "QUEUE"
        assert endpoint["image"] == WORKER_IMAGES[engine] and endpoint["env"]["HF_TOKEN"] == HF_TOKEN
        assert endpoint["gpu"]["pools"] == ["ADA_80_PRO"] and endpoint["gpu"]["count"] == 2
        # Sent explicitly, not left to REST v2's defaults (workers max 3, idle 10 s, timeout 300 s).
        assert endpoint["workers"] == {"min": 0, "max": 1, "idleTimeout": 300}
        assert (endpoint["timeout"], endpoint["flashboot"]) == (600000, "OFF")
        assert endpoint["env"]["MAX_CONCURRENCY"] == "1024" and endpoint["env"]["MODEL_NAME"] == DEFAULT_MODEL
    # One set of settings in each worker's variables and each engine's spelling.
    assert {
        k: vllm["env"][k]
        for k in (
            "MAX_MODEL_LEN",
            "TENSOR_PARALLEL_SIZE",
            "GPU_MEMORY_UTILIZATION",
            "ENABLE_PREFIX_CACHING",
            "REASONING_PARSER",
            "ENABLE_PROMPT_TOKENS_DETAILS",
        )
    } == {
        "MAX_MODEL_LEN": "16384",
        "TENSOR_PARALLEL_SIZE": "2",
        "GPU_MEMORY_UTILIZATION": "0.9",
        "ENABLE_PREFIX_CACHING": "true",
        "REASONING_PARSER": "deepseek_r1",
        "ENABLE_PROMPT_TOKENS_DETAILS": "true",
    }
    assert {k: sglang["env"][k] for k in ("CONTEXT_LENGTH", "TENSOR_PARALLEL_SIZE", "MEM_FRACTION_STATIC",
            "DISABLE_RADIX_CACHE", "REASONING_PARSER")} == {
        "CONTEXT_LENGTH": "16384", "TENSOR_PARALLEL_SIZE": "2", "MEM_FRACTION_STATIC": "0.9",
        "DISABLE_RADIX_CACHE": "false", "REASONING_PARSER": "deepseek-r1"}  # fmt: skip

    targets = {t.engine: t for t in load_targets(targets_file)}
    assert targets["vllm"].base_url == f"{fake.url}/serverless/{vllm_id}/openai"  # from the endpoint's requestUrls
    assert targets["sglang"].base_url == f"{fake.url}/serverless/{sglang_id}/openai"
    for engine, target in targets.items():
        assert (target.name, target.api_key_env, target.model) == (f"{engine}-serverless", "RUNPOD_API_KEY",
                                                                   DEFAULT_MODEL)  # fmt: skip
        assert target.billing["kind"] == "serverless" and target.gpu_count == 2
        assert "HF_TOKEN=<HF_TOKEN>" in target.launch["env"] and target.launch["flashboot"] == "OFF"
        assert (target.launch["workers_max"], target.launch["idle_timeout_s"]) == (1, 300)
    assert "MAX_MODEL_LEN=16384" in targets["vllm"].launch["env"] and targets["vllm"].launch["not_set"] == []
    assert any("--enable-cache-report" in s for s in targets["sglang"].launch["not_set"])
    assert targets["sglang"].launch["parity"].startswith("checked; worker-sglang cannot set metrics, cached_tokens")
    assert json.loads(state_path(targets_file).read_text())["endpoints"] == {vllm_id: "vllm", sglang_id: "sglang"}
    assert leaked_secrets(tmp_path, result.stdout, result.stderr) == []

    down = run_deploy("down", "--targets", str(targets_file), env=env)
    assert down.returncode == 0, down.stderr
    assert fake.endpoints_alive() == [] and fake.templates_alive() == []
    assert "deleted 2 serverless endpoint(s)" in down.stdout and not state_path(targets_file).exists()
    assert leaked_secrets(tmp_path, down.stdout, down.stderr) == []


def test_when_the_second_create_fails_the_first_endpoint_is_deleted(
    tmp_path: Path, fake: FakeRunpod, env: dict
) -> None:
    fake.faults.endpoint_create_errors = {2: Problem(400, "gpu.pools: no such pool")}
    result = run_deploy("serverless", "--targets", str(tmp_path / "targets.toml"), env=env)
    assert_clean_failure(result, fake, tmp_path, "Runpod refused creating the sglang endpoint: gpu.pools: no such")
    assert len(fake.endpoints) == 1 and fake.endpoints_deleted == list(fake.endpoints)
    assert f"deleted vllm endpoint {fake.endpoints_deleted[0]}" in result.stderr


def test_a_create_that_failed_but_made_the_endpoint_is_found_by_name_and_deleted(
    tmp_path: Path, fake: FakeRunpod, env: dict
) -> None:
    """A 503 from a create that went through, and every look for it by name fails too: the guard looks again."""
    fake.faults.endpoint_create_errors = {1: Problem(503, "upstream", pod_made=True)}
    fake.faults.server_errors = {"listEndpoints": 5}  # each of the client's 5 tries
    result = run_deploy("serverless", "--targets", str(tmp_path / "targets.toml"), env=env)
    assert_clean_failure(result, fake, tmp_path, "creating the vllm endpoint may have made the endpoint")
    assert len(fake.endpoints) == 1 and fake.endpoints_deleted == list(fake.endpoints)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_during_a_create_leaves_no_endpoint(
    tmp_path: Path, fake: FakeRunpod, env: dict, sig: signal.Signals
) -> None:
    """The endpoint exists on Runpod but its create has not answered yet: the deployment's name finds it."""
    fake.faults.endpoint_create_delay_s = 3.0
    process = subprocess.Popen(
        deploy_command("serverless", "--targets", str(tmp_path / "targets.toml")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not fake.endpoints and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert_clean_failure(result, fake, tmp_path, "interrupted")
    assert result.returncode == 130 and len(fake.endpoints) == 1
    assert ("Ctrl-C" if sig == signal.SIGINT else sig.name) + ": deleting every serverless endpoint" in stderr
    assert "which Runpod may still be creating" in stderr


def test_dry_run_prints_v2_bodies_with_placeholders_and_sends_nothing(
    tmp_path: Path, fake: FakeRunpod, env: dict
) -> None:
    result = run_deploy("serverless", "--dry-run", "--workers-max", "2", "--idle-timeout", "30s",
                        "--execution-timeout", "20m", "--flashboot", "flashboot", "--targets",
                        str(tmp_path / "t.toml"), env={**env, "RUNPOD_API_KEY": ""})  # fmt: skip
    assert result.returncode == 0, result.stderr
    bodies = printed_bodies(result.stdout)
    for engine, body in bodies.items():
        assert check_endpoint(body) is None  # what the fake, after openapi.json, accepts
        assert body["name"] == f"turnbench-{engine}-<deploy-id>" and body["env"]["HF_TOKEN"] == "<HF_TOKEN>"
        assert body["workers"] == {"min": 0, "max": 2, "idleTimeout": 30}
        assert (body["timeout"], body["flashboot"], body["scaling"]) == (1200000, "FLASHBOOT", {
            "type": "QUEUE_DELAY", "queueDelay": 4})  # fmt: skip
    assert bodies["vllm"]["gpu"]["allowedCudaVersions"] == ["13.0"] and "parity: checked" in result.stdout
    assert fake.answers == [] and list(tmp_path.iterdir()) == [tmp_path / "home"]
    assert leaked_secrets(tmp_path, result.stdout, result.stderr) == []
    tokenless = run_deploy("serverless", "--dry-run", env={**env, "RUNPOD_API_KEY": "", "HF_TOKEN": ""})
    assert "HF_TOKEN" not in tokenless.stdout


def test_down_all_deletes_every_turnbench_endpoint_and_template_and_nothing_else(fake: FakeRunpod, env: dict) -> None:
    client = RunpodClient(Credentials(FAKE_RUNPOD_KEY, None, None), base_url=fake.url, backoff_s=0.001)
    body = {"type": "QUEUE", "image": "i", "gpu": {"pools": ["ADA_80_PRO"]}, "scaling": {"type": "QUEUE_DELAY",
            "queueDelay": 4}}  # fmt: skip
    ours = client.create_endpoint("the vllm endpoint", {**body, "name": "turnbench-vllm-ab12cd34"}).id
    theirs = client.create_endpoint("an endpoint", {**body, "name": "my-endpoint"}).id
    template = client.create_template("a template", {"name": "turnbench-sglang-ab12cd34", "image": "i"})
    own_template = client.create_template("a template", {"name": "my-template", "image": "i"})
    result = run_deploy("down", "--all", env=env)
    assert result.returncode == 0, result.stderr
    assert fake.endpoints_deleted == [ours] and fake.templates_deleted == [template]
    assert set(fake.endpoints_alive()) == {theirs} and fake.templates_alive() == [own_template]
    assert "deleted 1 serverless endpoint(s), deleted 1 template(s)" in result.stdout


def test_one_endpoint_id_without_the_other_is_one_line(tmp_path: Path, env: dict) -> None:
    result = run_deploy("serverless", "--vllm-endpoint", "abc123xyz", "--targets", str(tmp_path / "t.toml"), env=env)
    assert result.returncode == 2 and len(error_lines(result.stderr)) == 1
    assert "give both --vllm-endpoint and --sglang-endpoint" in result.stderr


def assert_clean_failure(
    result: subprocess.CompletedProcess[str], fake: FakeRunpod, tmp_path: Path, expected: str
) -> None:
    assert fake.endpoints_alive() == [] and fake.templates_alive() == [], result.stderr
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("turnbench deploy: ") and expected in lines[0], result.stderr
    assert leaked_secrets(tmp_path, result.stdout, result.stderr) == []
    assert not (tmp_path / "targets.toml").exists() and not state_path(tmp_path / "targets.toml").exists()


def printed_bodies(out: str) -> dict[str, dict]:
    """engine -> the JSON body printed under its "<engine>: POST /v2/serverless" line."""
    decoder, bodies = json.JSONDecoder(), {}
    for engine in ("vllm", "sglang"):
        start = out.index(f"{engine}: POST /v2/serverless\n") + len(f"{engine}: POST /v2/serverless\n")
        bodies[engine] = decoder.raw_decode(out, start)[0]
    return bodies
