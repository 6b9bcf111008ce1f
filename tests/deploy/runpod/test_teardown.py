"""Teardown is guaranteed: every way `deploy up` can fail leaves no pod running on the (fake) Runpod.

Each case runs the real command in its own process against the fake and checks what a user would
check afterwards: nothing left billing in the ledger, one line saying what went wrong, a failing
exit code, and no key in any file or output.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deploy.runpod.client import RunpodClient
from deploy.runpod.credentials import Credentials
from deploy.runpod.resources import PodInfo
from deploy.runpod.teardown import PodGuard, select
from deploy.state import state_path
from tests.deploy.conftest import ROOT, deploy_command, error_lines, fast_up, leaked_secrets, run_deploy
from tests.deploy.fake_runpod import CAPACITY_DETAIL, FAKE_RUNPOD_KEY, FakeRunpod, Problem


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
    fake.faults.create_errors = {1: Problem(400, "dataCenterIds: unknown data center")}
    result = run_deploy(*fast_up(fake, tmp_path / "targets.toml", "--cloud", "ALL"), env=env)
    assert_clean_failure(result, fake, tmp_path, "Runpod refused creating the vllm pod: dataCenterIds: unknown")
    assert fake.created == [] and fake.answered("createPod") == [400]  # a broken rule is not tried elsewhere


def test_no_capacity_anywhere_says_what_to_try_instead(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    fake.faults.availability = {"COMMUNITY": "NONE"}
    fake.faults.create_errors = {1: Problem(400, CAPACITY_DETAIL)}
    result = run_deploy(*fast_up(fake, tmp_path / "targets.toml", "--cloud", "ALL"), env=env)
    assert_clean_failure(result, fake, tmp_path, "no free GPUs for the vllm pod: 2x NVIDIA H100 80GB HBM3 in SECURE "
                         "cloud, COMMUNITY cloud")  # fmt: skip
    assert "--cloud/--data-center/--gpu-type" in result.stderr and fake.answered("createPod") == [400]


def test_no_balance_is_one_line(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    fake.faults.create_errors = {1: Problem(402, "insufficient balance")}
    result = run_deploy(*fast_up(fake, tmp_path / "targets.toml", "--cloud", "ALL"), env=env)
    assert_clean_failure(result, fake, tmp_path, "no balance left on the account")
    assert fake.answered("createPod") == [402]  # no other cloud will do better


def test_a_429_storm_that_never_ends_is_one_line(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    fake.faults.rate_limited = {"listGpuTypes": 10**6}
    result = run_deploy(*fast_up(fake, tmp_path / "targets.toml"), env=env)
    assert_clean_failure(result, fake, tmp_path, "kept answering 429 Too Many Requests")
    assert fake.answered("listGpuTypes") == [429] * 8 and fake.created == []


def test_when_the_second_create_fails_the_first_pod_is_terminated(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    fake.faults.create_errors = {2: Problem(400, CAPACITY_DETAIL)}
    result = run_deploy(*fast_up(fake, tmp_path / "targets.toml"), env=env)
    assert_clean_failure(result, fake, tmp_path, "no free GPUs for the sglang pod")
    assert len(fake.created) == 1 and fake.terminated == fake.created
    assert f"terminated vllm pod {fake.created[0]}" in result.stderr


def test_a_create_that_failed_but_made_the_pod_leaves_nothing(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    """A 503 from a create that went through, and the client's own look for the pod fails too:
    the guard looks again by name on the way out."""
    fake.faults.create_errors = {1: Problem(503, "upstream", pod_made=True)}
    fake.faults.server_errors = {"listPods": 5}  # each of the client's 5 tries
    result = run_deploy(*fast_up(fake, tmp_path / "targets.toml"), env=env)
    assert_clean_failure(result, fake, tmp_path, "creating the vllm pod may have made the pod")
    assert len(fake.created) == 1 and fake.terminated == fake.created


def test_a_pod_that_never_gets_its_port_times_out(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    fake.faults.ports_routed = False
    result = run_deploy(*fast_up(fake, tmp_path / "targets.toml", "--timeout", "1s"), env=env)
    assert_clean_failure(result, fake, tmp_path, "not ready after")
    assert "running, port 8000 not routed yet" in error_lines(result.stderr)[0]
    assert len(fake.terminated) == 2


def test_a_pod_that_errors_ends_the_wait_and_both_pods(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    fake.faults.stops_after_polls, fake.faults.stop_status = 2, "ERROR"
    result = run_deploy(*fast_up(fake, tmp_path / "targets.toml"), env=env)
    assert_clean_failure(result, fake, tmp_path, "stopped (ERROR) before it served")
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


def test_ctrl_c_while_runpod_is_still_answering_finds_the_pod_by_its_name(
    tmp_path: Path, fake: FakeRunpod, env: dict
) -> None:
    """The pod exists on Runpod but its id never reached us: the deployment's name finds it."""
    fake.faults.create_delay_s = 3.0
    result = interrupted(fake, tmp_path, env, signal.SIGINT, lambda: len(fake.created) == 1)
    assert_clean_failure(result, fake, tmp_path, "interrupted")
    assert fake.terminated == fake.created


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_before_runpod_made_the_pod_still_leaves_none(
    tmp_path: Path, fake: FakeRunpod, env: dict, sig: signal.Signals
) -> None:
    """The create was sent, the signal came, and only then did Runpod make the pod: the guard waits for it."""
    fake.faults.create_lands_after_s = 0.8
    result = interrupted(fake, tmp_path, env, sig, lambda: fake.create_requests == 1 and not fake.created)
    assert_clean_failure(result, fake, tmp_path, "interrupted")
    assert len(fake.created) == 1 and fake.terminated == fake.created
    assert "which Runpod may still be creating" in result.stderr and result.returncode == 130


def interrupted(
    fake: FakeRunpod, tmp_path: Path, env: dict, sig: signal.Signals, when: Callable[[], bool]
) -> subprocess.CompletedProcess[str]:
    """`deploy up`, sent `sig` as soon as `when()` holds; its result once it has ended."""
    process = subprocess.Popen(
        deploy_command(*fast_up(fake, tmp_path / "targets.toml")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        wait_for(when, process)
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


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


def test_a_pod_named_for_the_deployment_but_not_kept_is_terminated_once_it_serves(fake: FakeRunpod) -> None:
    """What a create retried after a 5xx that was listed only later would leave: a second pod of one name."""
    client = RunpodClient(Credentials(FAKE_RUNPOD_KEY, None, None), base_url=fake.url, backoff_s=0.001)
    body = {"name": "turnbench-vllm-ab12cd34", "image": "i", "gpu": {"id": "NVIDIA H100 80GB HBM3", "count": 2}}
    kept, stray = client.create_pod("the vllm pod", body), client.create_pod("the vllm pod", body)
    lines: list[str] = []
    guard = PodGuard(client, "ab12cd34", lines.append, lambda pods: None)
    guard.add(kept, "vllm")
    guard.terminate_strays()
    assert fake.alive() == [kept] and fake.terminated == [stray] and f"  terminated vllm pod {stray}" in lines


def test_down_selects_only_turnbench_pods() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def pod(pod_id: str, name: str) -> PodInfo:
        return PodInfo(pod_id, name, "RUNNING", 7.98, 60, 2, "img", (8000,))

    pods = [pod("a", "turnbench-vllm-1234abcd"), pod("b", "turnbench-sglang-1234abcd-until-20261128T1100Z"),
            pod("c", "my-notebook"), pod("d", "turnbench-vllm-5678abcd-until-20261128T1300Z")]  # fmt: skip
    assert [p.id for p in select(pods, "all", set(), now)] == ["a", "b", "d"]
    assert [p.id for p in select(pods, "expired", set(), now)] == ["b"]
    assert [p.id for p in select(pods, "recorded", {"a", "c"}, now)] == ["a"]
    # A pod named for the recorded deployment is its own, even if its id was never recorded.
    assert [p.id for p in select(pods, "recorded", {"a"}, now, deploy_id="1234abcd")] == ["a", "b"]


def wait_for(condition: object, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"deploy exited early: {process.communicate()}")
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the deployment to get there")
