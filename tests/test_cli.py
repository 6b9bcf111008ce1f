"""The `turnbench` command as a user runs it: real subprocesses, one clear line on mistakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.groundtruth.process import GroundTruth

ROOT = Path(__file__).resolve().parent.parent


def turnbench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "turnbench", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_help_lists_the_real_subcommands() -> None:
    result = turnbench("--help")
    assert result.returncode == 0
    assert "chat" in result.stdout and "tiny-model" in result.stdout


def test_chat_prints_what_one_turn_measured(groundtruth: GroundTruth) -> None:
    result = turnbench("chat", "--base-url", groundtruth.url, "--model", "groundtruth", "--max-tokens", "8", "--json")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["ok"] and row["completion_tokens"] == 8 and 190 < row["ttft_ms"] < 260


def test_an_unreachable_server_is_one_line_and_a_failing_exit_code() -> None:
    result = turnbench("chat", "--base-url", "http://127.0.0.1:9", "--model", "m", "--max-tokens", "4")
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("FAILED connect: connection refused (is the server running")
    assert "Traceback" not in result.stderr


def test_a_missing_api_key_variable_is_named_without_a_traceback() -> None:
    result = turnbench(
        "chat", "--base-url", "http://127.0.0.1:9", "--model", "m", "--api-key-env", "TB_NOT_SET_ANYWHERE"
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "turnbench chat: environment variable TB_NOT_SET_ANYWHERE is not set (it should hold the API key)"
    )


def test_tiny_model_rejects_an_unknown_preset_in_one_line(tmp_path: Path) -> None:
    result = turnbench("tiny-model", str(tmp_path / "m"), "--preset", "huge")
    assert result.returncode == 2
    assert result.stderr.strip() == "turnbench tiny-model: unknown preset 'huge'; choose one of tiny, small"
