"""The deploy command line: one clear line for every mistake, and a parser turnbench can mount."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from deploy.cli import add_deploy_parser, run_deploy
from deploy.errors import DeployError
from deploy.parity import default_specs
from tests.deploy.conftest import ENGINE_KEY, error_lines, leaked_secrets
from tests.deploy.conftest import run_deploy as run_deploy_process
from tests.deploy.fake_runpod import FakeRunpod


def parse(*args: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="turnbench")
    add_deploy_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["deploy", *args])


def test_mounts_under_turnbench_with_its_actions() -> None:
    args = parse("up", "--vllm", "context_length=8192", "--cloud", "community")
    assert (args.deploy_command, args.vllm, args.cloud, args.targets) == ("up", ["context_length=8192"], "community",
                                                                           "targets.toml")  # fmt: skip
    assert parse("down", "--all").all and parse("serverless", "--vllm-endpoint", "a", "--sglang-endpoint", "b")


def dry_run_bodies(out: str) -> dict[str, dict]:
    """engine -> the JSON body printed under its "<engine>: POST /v2/pods" line."""
    decoder, bodies = json.JSONDecoder(), {}
    for engine in ("vllm", "sglang"):
        start = out.index(f"{engine}: POST /v2/pods\n") + len(f"{engine}: POST /v2/pods\n")
        bodies[engine] = decoder.raw_decode(out, start)[0]
    return bodies


def test_dry_run_prints_each_v2_body_with_secrets_as_placeholders(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf-real-token")
    assert run_deploy(parse("up", "--dry-run", "--max-lifetime", "4h")) == 0
    out = capsys.readouterr().out
    bodies = dry_run_bodies(out)
    specs = default_specs()
    for engine, body in bodies.items():
        assert body["image"] == specs[engine].image and body["cloud"] == "SECURE"
        assert body["gpu"] == {"id": "NVIDIA H100 80GB HBM3", "count": 2, "allowedCudaVersions": ["12.9", "13.0"]}
        assert body["args"] == specs[engine].start_args("k3y").replace("k3y", "<TURNBENCH_ENGINE_API_KEY>")
        assert body["env"]["HF_TOKEN"] == "<HF_TOKEN>" and "TURNBENCH_EXPIRES_AT" in body["env"]
        assert body["name"].startswith(f"turnbench-{engine}-<deploy-id>-until-")
        assert "<TURNBENCH_ENGINE_API_KEY>" in body["args"] + json.dumps(body["env"])
    assert "--max-model-len 16384" in bodies["vllm"]["args"] and bodies["vllm"]["env"]["VLLM_SERVER_DEV_MODE"] == "1"
    assert bodies["sglang"]["args"].startswith("sglang serve --model-path ")
    assert "hf-real-token" not in out and out.strip().endswith("parity: checked")
    assert "placement:" not in out  # one place to try


def test_dry_run_needs_no_key_and_sends_nothing(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    result = run_deploy_process("up", "--dry-run", "--cloud", "all", "--data-center", "EU-RO-1,US-KS-2",
                                "--targets", str(tmp_path / "t.toml"), env={**env, "RUNPOD_API_KEY": ""})  # fmt: skip
    assert result.returncode == 0, result.stderr
    bodies = dry_run_bodies(result.stdout)
    assert bodies["vllm"]["dataCenterIds"] == ["EU-RO-1"] and bodies["vllm"]["cloud"] == "SECURE"
    assert "placement: SECURE EU-RO-1, then SECURE US-KS-2, then COMMUNITY EU-RO-1, then COMMUNITY US-KS-2" in (
        result.stdout)  # fmt: skip
    assert fake.answers == [] and not (tmp_path / "t.toml").exists() and not (tmp_path / "t.deploy.json").exists()
    assert leaked_secrets(tmp_path, result.stdout, result.stderr) == [] and ENGINE_KEY not in result.stdout
    keyless = run_deploy_process("up", "--dry-run", "--no-engine-api-key", env={**env, "HF_TOKEN": ""})
    assert "<TURNBENCH_ENGINE_API_KEY>" not in keyless.stdout and "HF_TOKEN" not in keyless.stdout
    assert "--api-key" not in keyless.stdout and "VLLM_API_KEY" not in keyless.stdout


def test_asymmetry_is_refused_and_force_records_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DeployError, match="context_length"):
        run_deploy(parse("up", "--dry-run", "--sglang", "context_length=8192"))
    assert run_deploy(parse("up", "--dry-run", "--sglang", "context_length=8192", "--force")) == 0
    assert "parity: forced: context_length (vllm 16384, sglang 8192)" in capsys.readouterr().out


def test_user_mistakes_are_one_line_with_exit_code_2(tmp_path: Path, env: dict) -> None:
    up = ("up", "--targets", str(tmp_path / "t.toml"))
    cases = {
        (*up, "--timeout", "soon"): "--timeout 'soon'",
        (*up, "--cloud", "moon"): "--cloud MOON",
        (*up, "--gpu-count", "4"): "needs --gpu-count 2",
        (*up, "--volume-gb", "5"): "Runpod's minimum is 10",
        (*up, "--gpu-type", "NVIDIA H900", "--proxy-url-template", "http://127.0.0.1:9/{pod_id}"): "no such GPU type",
    }
    for args, expected in cases.items():
        result = run_deploy_process(*args, env=env)
        lines = error_lines(result.stderr)
        assert result.returncode == 2 and len(lines) == 1 and expected in lines[0], (args, result.stderr)
    missing = run_deploy_process("status", env={**env, "RUNPOD_API_KEY": ""})
    assert missing.returncode == 2 and error_lines(missing.stderr)[0].startswith("turnbench deploy: set RUNPOD_API_KEY")
