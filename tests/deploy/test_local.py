"""`deploy up --local`: both emulators in the background, then `turnbench compare --targets` as for pods."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from deploy.state import load_state, state_path
from deploy.targets import load_targets
from tests.deploy.conftest import ROOT, error_lines, run_deploy


def local_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_up_local_then_compare_then_down_local(tmp_path: Path) -> None:
    targets_file = tmp_path / "targets.toml"
    up = run_deploy("up", "--local", "--profile", "fast", "--targets", str(targets_file), env=local_env())
    assert up.returncode == 0, up.stderr
    state = load_state(targets_file)
    assert state is not None and state.kind == "local"
    pids = [p.pid for p in state.processes]
    try:
        assert all(alive(pid) for pid in pids)
        assert f"turnbench deploy down --local --targets {targets_file}" in up.stdout
        targets = load_targets(targets_file)
        assert [(t.name, t.engine, t.model) for t in targets] == [
            ("vllm-emulated", "vllm", "emulated"), ("sglang-emulated", "sglang", "emulated")]  # fmt: skip
        assert all(t.base_url.startswith("http://127.0.0.1:") and t.usd_per_hour == 7.98 for t in targets)

        out = tmp_path / "runs"
        compare = subprocess.run(
            [sys.executable, "-m", "turnbench", "compare", "--targets", str(targets_file), "-u", "2", "-t", "10s",
             "--repeats", "1", "--warmup", "2s", "--out", str(out)],
            capture_output=True, text=True, timeout=300, cwd=ROOT, env=local_env(),
        )  # fmt: skip
        assert compare.returncode == 0, compare.stdout + compare.stderr
        assert list(out.rglob("report.html")), compare.stdout
    finally:
        down = run_deploy("down", "--local", "--targets", str(targets_file), env=local_env())
    assert down.returncode == 0, down.stderr
    assert "stopped 2 emulator(s)" in down.stdout
    assert not any(alive(pid) for pid in pids) and not state_path(targets_file).exists()


def test_down_local_with_nothing_recorded_is_one_line(tmp_path: Path) -> None:
    result = run_deploy("down", "--local", "--targets", str(tmp_path / "targets.toml"), env=local_env())
    assert result.returncode == 2 and error_lines(result.stderr) == [
        f"turnbench deploy: no local emulators are recorded in {tmp_path / 'targets.deploy.json'}; nothing to stop"
    ]


def test_an_emulator_that_cannot_start_leaves_nothing_behind(tmp_path: Path) -> None:
    targets_file = tmp_path / "targets.toml"
    result = run_deploy("up", "--local", "--profile", "no-such-profile", "--targets", str(targets_file),
                        env=local_env())  # fmt: skip
    assert result.returncode == 2 and error_lines(result.stderr)[0].startswith("turnbench deploy: the vllm emulator")
    assert not targets_file.exists() and not state_path(targets_file).exists()
