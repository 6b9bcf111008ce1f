"""Teardown is guaranteed: every way `deploy up` can fail leaves no pod running on the (fake) Runpod.

Each case runs the real command in its own process against the fake and checks what a user would
check afterwards: nothing left billing in the ledger, one line saying what went wrong, a failing
exit code, and no key in any file or output.
"""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deploy.runpod.client import PodInfo
from deploy.runpod.teardown import select
from deploy.state import state_path
from tests.deploy.conftest import ROOT, deploy_command, error_lines, fast_up, leaked_secrets, run_deploy
from tests.deploy.fake_runpod import CAPACITY_ERROR, FakeRunpod


def assert_clean_failure(
    result: subprocess.CompletedProcess[str], fake: FakeRunpod, tmp_path: Path, expected: str
) -> None:
    assert fake.alive() == [], f"pods left running: {fake.alive()}\n{result.stderr}"
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("turnbench deploy: "), result.stderr
    assert expected in lines[0], lines[0]
    assert leaked_secrets(tmp_path, result.stdout, result.stderr) == []
    assert not (tmp_path / "targets.toml").exists() and not state_path(tmp_path / "targets.toml").exists()


def test_a_refused_create_leaves_nothing(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    fake.faults.create_errors = {1: "Something went wrong. Please try again later or contact support."}
    result = run_deploy(*fast_up(fake, tmp_path / "targets.toml"), env=env)
    assert_clean_failure(result, fake, tmp_path, "Runpod refused creating the vllm pod: Something went wrong")
    assert fake.created == []


def test_no_capacity_says_what_to_try_instead(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    fake.faults.create_errors = {1: CAPACITY_ERROR}
    result = run_deploy(*fast_up(fake, tmp_path / "targets.toml"), env=env)
    assert_clean_failure(result, fake, tmp_path, "no free GPUs of that type")
    assert "--cloud" in result.stderr


def test_when_the_second_create_fails_the_first_pod_is_terminated(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    fake.faults.create_errors = {2: CAPACITY_ERROR}
    result = run_deploy(*fast_up(fake, tmp_path / "targets.toml"), env=env)
    assert_clean_failure(result, fake, tmp_path, "while creating the sglang pod")
    assert len(fake.created) == 1 and fake.terminated == fake.created
    assert f"terminated vllm pod {fake.created[0]}" in result.stderr


def test_a_pod_that_never_gets_its_port_times_out(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    fake.faults.ports_after_polls = None
    result = run_deploy(*fast_up(fake, tmp_path / "targets.toml", "--timeout", "1s"), env=env)
    assert_clean_failure(result, fake, tmp_path, "not ready after")
    assert "port 8000 not routed yet" in error_lines(result.stderr)[0]
    assert len(fake.terminated) == 2


def test_an_engine_that_never_answers_health_times_out(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    fake.faults.health_after_probes = None
    result = run_deploy(*fast_up(fake, tmp_path / "targets.toml", "--timeout", "1s"), env=env)
    assert_clean_failure(result, fake, tmp_path, "/health: HTTP 502")
    assert "raise --timeout" in result.stderr and len(fake.terminated) == 2


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 130), (signal.SIGHUP, 130)])
def test_a_signal_during_the_wait_terminates_both_pods(
    tmp_path: Path, fake: FakeRunpod, env: dict, sig: signal.Signals, code: int
) -> None:
    fake.faults.health_after_probes = None
    process = subprocess.Popen(
        deploy_command(*fast_up(fake, tmp_path / "targets.toml", "--timeout", "5m")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        wait_for(lambda: len(fake.created) == 2 and len(fake.health_auth) >= 2, process)
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert_clean_failure(result, fake, tmp_path, "interrupted")
    assert result.returncode == code and len(fake.terminated) == 2
    assert ("Ctrl-C" if sig == signal.SIGINT else sig.name) + ": terminating every pod" in stderr


def test_ctrl_c_while_runpod_is_still_creating_finds_the_pod_by_its_name(
    tmp_path: Path, fake: FakeRunpod, env: dict
) -> None:
    """The pod exists on Runpod but its id never reached us: the deployment's name finds it."""
    fake.faults.create_delay_s = 3.0
    process = subprocess.Popen(
        deploy_command(*fast_up(fake, tmp_path / "targets.toml")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        wait_for(lambda: len(fake.created) == 1, process)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert_clean_failure(result, fake, tmp_path, "interrupted")
    assert fake.terminated == fake.created


def test_the_engine_key_is_required_and_never_echoed(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    result = run_deploy(*fast_up(fake, tmp_path / "targets.toml"), env={**env, "TURNBENCH_ENGINE_API_KEY": ""})
    assert_clean_failure(result, fake, tmp_path, "set TURNBENCH_ENGINE_API_KEY")
    unsafe = run_deploy(*fast_up(fake, tmp_path / "targets.toml"), env={**env, "TURNBENCH_ENGINE_API_KEY": 'a"b'})
    assert unsafe.returncode == 2 and 'a"b' not in unsafe.stderr and fake.created == []


def test_a_wrong_runpod_key_is_one_line(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    result = run_deploy(*fast_up(fake, tmp_path / "targets.toml"), env={**env, "RUNPOD_API_KEY": "wrong"})
    assert_clean_failure(result, fake, tmp_path, "Runpod refused the key in RUNPOD_API_KEY")


def test_an_unreachable_api_is_one_line(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    result = run_deploy(
        *fast_up(fake, tmp_path / "targets.toml"), env={**env, "RUNPOD_API_BASE_URL": "http://127.0.0.1:9"}
    )
    assert_clean_failure(result, fake, tmp_path, "cannot reach Runpod's API")


def test_down_selects_only_turnbench_pods() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def pod(pod_id: str, name: str) -> PodInfo:
        return PodInfo(pod_id, name, "RUNNING", 7.98, 60, 2, "img", (8000,))

    pods = [pod("a", "turnbench-vllm-1234abcd"), pod("b", "turnbench-sglang-1234abcd-until-20261128T1100Z"),
            pod("c", "my-notebook"), pod("d", "turnbench-vllm-5678abcd-until-20261128T1300Z")]  # fmt: skip
    assert [p.id for p in select(pods, "all", set(), now)] == ["a", "b", "d"]
    assert [p.id for p in select(pods, "expired", set(), now)] == ["b"]
    assert [p.id for p in select(pods, "recorded", {"a", "c"}, now)] == ["a"]


def wait_for(condition: object, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"deploy exited early: {process.communicate()}")
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the deployment to get there")
