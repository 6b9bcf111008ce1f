"""As a user would: `deploy up` on the (fake) Runpod, `compare --targets` against its pods, `deploy down`.

Behind the fake's pod proxy run the two engine emulators (tests/deploy/fake_proxy.py), so compare
measures through the URLs, key and flush endpoints that `deploy up` wrote, as it would on real pods.
Each step is the real command in its own process; what is checked is what a user would check: a
report, every run started cold, nothing left billing, and no key in any file or output.
"""

from __future__ import annotations

import csv
import json
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.emulator.process import running_emulator
from deploy.parity import DEFAULT_MODEL
from tests.deploy.conftest import ENGINE_KEY, ROOT, deploy_command, error_lines, fast_up, leaked_secrets, run_deploy
from tests.deploy.fake_runpod import FakeRunpod

FLUSH_PATHS = {"vllm": "/reset_prefix_cache", "sglang": "/flush_cache"}


@pytest.fixture
def emulators() -> Iterator[dict[str, str]]:
    """Both engines' emulators, serving the model the pods are deployed with (vLLM answers 404 to another)."""
    model = ("--profile", "fast", "--model", DEFAULT_MODEL)
    with running_emulator("vllm", *model) as vllm, running_emulator("sglang", *model) as sglang:
        yield {"vllm": vllm, "sglang": sglang}


def compare_command(targets: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "turnbench", "compare", "--targets", str(targets), "--rate", "12000/h",
            "--repeats", "1", "-t", "5s", "--warmup", "2s", "--out", str(out), "--", "--max-tokens", "32"]  # fmt: skip


def test_up_then_compare_through_the_pod_proxy_then_down_leaves_nothing(
    tmp_path: Path, fake: FakeRunpod, env: dict, emulators: dict[str, str]
) -> None:
    fake.emulators = emulators
    targets_file, out = tmp_path / "targets.toml", tmp_path / "runs"
    up = run_deploy(*fast_up(fake, targets_file), env=env)
    assert up.returncode == 0, up.stderr
    try:
        compare = subprocess.run(compare_command(targets_file, out), capture_output=True, text=True, timeout=180,
                                 cwd=ROOT, env=env)  # fmt: skip
    finally:
        down = run_deploy("down", "--targets", str(targets_file), env=env)
    assert compare.returncode == 0, compare.stdout + compare.stderr
    assert down.returncode == 0, down.stderr
    assert fake.alive() == [], down.stderr

    assert list(out.rglob("report.html")), compare.stdout
    run_dirs = [path.parent for path in out.rglob("run.json")]
    infos = {json.loads((d / "run.json").read_text())["target"]["engine"]: d for d in run_dirs}
    assert sorted(infos) == ["sglang", "vllm"] and len(run_dirs) == 2
    for engine, run_dir in infos.items():
        info = json.loads((run_dir / "run.json").read_text())
        assert info["target"]["base_url"].startswith(f"{fake.url}/proxy/"), info["target"]
        assert info["cache_flushed"] is True or info["cache_salt"]["on"], (engine, info.get("cache_flush"))
        with (run_dir / "requests.csv").open() as rows:
            turns = list(csv.DictReader(rows))
        ok = [row for row in turns if row["ok"] == "True"]
        assert turns and ok == turns, f"{engine}: {len(turns) - len(ok)} of {len(turns)} turns failed through the proxy"
        # Streamed through, not gathered: the first token comes long before the last (about 30 tokens, 20 ms apart).
        ttft, e2e = (statistics.median(float(row[column]) for row in ok) for column in ("ttft_ms", "e2e_ms"))
        assert ttft < e2e / 2, (engine, ttft, e2e)

    paths = {(fake.pod(pod_id).engine, path) for pod_id, path, _ in fake.forwarded}
    for engine, flush_path in FLUSH_PATHS.items():
        assert {(engine, "/v1/chat/completions"), (engine, "/v1/models"), (engine, flush_path)} <= paths
    assert any(path == "/metrics" for _, path in paths)
    # vLLM, started with its key, refuses a /v1 request without it: every one carried it.
    assert {auth for _, path, auth in fake.forwarded if path.startswith("/v1/")} == {f"Bearer {ENGINE_KEY}"}
    outputs = (up.stdout, up.stderr, compare.stdout, compare.stderr, down.stdout, down.stderr)
    assert leaked_secrets(tmp_path, *outputs) == []


def test_sigterm_while_up_waits_for_readiness_leaves_no_pod_and_one_line(
    tmp_path: Path, fake: FakeRunpod, env: dict
) -> None:
    """A scheduler or `timeout` ends the deployment while the engines load: nothing stays up, and the
    user's next step, the compare, says in one line that there is nothing to measure."""
    fake.faults.health_after_probes = None
    targets_file = tmp_path / "targets.toml"
    process = subprocess.Popen(
        deploy_command(*fast_up(fake, targets_file, "--timeout", "5m")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (len(fake.created) == 2 and len(fake.health_auth) >= 2):
            assert process.poll() is None and time.monotonic() < deadline, "deploy up never reached the wait"
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert fake.alive() == [] and len(fake.terminated) == 2, stderr
    assert process.returncode == 130 and "Traceback" not in stderr
    lines = error_lines(stderr)
    assert len(lines) == 1 and lines[0].startswith("turnbench deploy: ") and "interrupted" in lines[0], stderr
    assert not targets_file.exists()

    compare = subprocess.run(compare_command(targets_file, tmp_path / "runs"), capture_output=True, text=True,
                             timeout=60, cwd=ROOT, env=env)  # fmt: skip
    assert compare.returncode != 0 and "Traceback" not in compare.stderr
    assert len(error_lines(compare.stderr)) == 1 and str(targets_file) in compare.stderr, compare.stderr
    assert not (tmp_path / "runs").exists()
    assert leaked_secrets(tmp_path, stdout, stderr, compare.stdout, compare.stderr) == []
