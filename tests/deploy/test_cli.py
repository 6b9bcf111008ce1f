"""The deploy command line: one clear line for every mistake, and a parser turnbench can mount."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from deploy.cli import add_deploy_parser, run_deploy
from deploy.errors import DeployError
from tests.deploy.conftest import error_lines
from tests.deploy.conftest import run_deploy as run_deploy_process


def parse(*args: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="turnbench")
    add_deploy_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["deploy", *args])


def test_mounts_under_turnbench_with_its_actions() -> None:
    args = parse("up", "--vllm", "context_length=8192", "--cloud", "community")
    assert (args.deploy_command, args.vllm, args.cloud, args.targets) == ("up", ["context_length=8192"], "community",
                                                                           "targets.toml")  # fmt: skip
    assert parse("down", "--all").all and parse("serverless", "--vllm-endpoint", "a", "--sglang-endpoint", "b")


def test_dry_run_prints_both_commands_with_the_key_as_a_placeholder(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_deploy(parse("up", "--dry-run")) == 0
    out = capsys.readouterr().out
    assert "vllm: vllm/vllm-openai:" in out and "--max-model-len 16384" in out
    assert "sglang: lmsysorg/sglang:" in out and "python3 -m sglang.launch_server" in out
    assert "--api-key <TURNBENCH_ENGINE_API_KEY>" in out and out.strip().endswith("parity: checked")


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
        (*up, "--gpu-type", "NVIDIA H900", "--proxy-url-template", "http://127.0.0.1:9/{pod_id}"): "no such GPU type",
    }
    for args, expected in cases.items():
        result = run_deploy_process(*args, env=env)
        lines = error_lines(result.stderr)
        assert result.returncode == 2 and len(lines) == 1 and expected in lines[0], (args, result.stderr)
    missing = run_deploy_process("status", env={**env, "RUNPOD_API_KEY": ""})
    assert missing.returncode == 2 and error_lines(missing.stderr)[0].startswith("turnbench deploy: set RUNPOD_API_KEY")
