"""The `turnbench` command as a user runs it: real subprocesses, one clear line on mistakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.bench.groundtruth.process import GroundTruth

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


def test_a_mistyped_flag_value_is_one_line_naming_the_flag() -> None:
    result = turnbench("run", "--host", "http://127.0.0.1:9", "--expected-stream-tps", "fast")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "turnbench run: argument --expected-stream-tps: invalid float value: 'fast' (see turnbench run --help)"
    )
    nested = turnbench("deploy", "up", "--no-such-flag")
    assert nested.returncode == 2 and len(nested.stderr.strip().splitlines()) == 1, nested.stderr
    assert "unrecognized arguments: --no-such-flag" in nested.stderr


def test_emulate_rejects_a_bad_profile_or_fault_spec_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[kv]\nbudget_tokens = 'lots'\n")
    cases = {
        ("--profile", "nonesuch"): "no built-in profile 'nonesuch'",
        ("--profile", str(broken)): f"{broken}: [kv] budget_tokens must be an integer",
        ("--faults", "meltdown=0.5"): "unknown fault 'meltdown'",
        ("--faults", "http_5xx=2"): "fault rate for http_5xx must be between 0 and 1, got 2.0",
        ("--keep-alive-timeout", "-1"): "--keep-alive-timeout: expected seconds >= 0, got -1",
    }
    for args, message in cases.items():
        result = turnbench("emulate", "--engine", "vllm", "--port", "0", *args)
        assert result.returncode == 2, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("turnbench emulate: ") and message in lines[0], lines


def test_emulate_stops_cleanly_on_sigterm_and_leaves_its_truth_csv(tmp_path: Path) -> None:
    import signal

    from harness.client.chat_client import ChatClient
    from harness.client.request import ChatRequest, user_message

    truth = tmp_path / "truth.csv"
    command = [sys.executable, "-m", "turnbench", "emulate", "--engine", "sglang", "--port", "0", "--profile", "fast"]
    process = subprocess.Popen([*command, "--truth-csv", str(truth)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stdout is not None
    url = process.stdout.readline().split(" listening on ")[1].split()[0]
    assert ChatClient.standalone(url).send(ChatRequest("x", [user_message("hi")], 3)).ok
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    rows = truth.read_text().splitlines()
    assert rows[0].startswith("request_id,engine,arrival") and len(rows) == 2


def test_the_command_line_does_not_patch_the_process_before_a_subcommand_runs() -> None:
    code = "import sys, turnbench.cli as c; c.build_parser(); print('gevent' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
