"""`turnbench deploy up --local`: both emulated engines as background processes, as a targets file.

The same targets.toml contract as for Runpod, so `turnbench compare --targets targets.toml` runs
the same way against local emulators and real pods. The emulators outlive the command (their own
session, so a Ctrl-C in the terminal does not reach them); their pids are recorded next to the
targets file, and `turnbench deploy down --local` stops them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from deploy.engines import LAUNCHABLE
from deploy.errors import DeployError
from deploy.pricing import FALLBACK_AS_OF, FALLBACK_USD_PER_GPU_HOUR
from deploy.runpod.pods import DEFAULT_GPU_TYPE
from deploy.runpod.readiness import Progress
from deploy.state import DeployState, LocalProcess, load_state, refuse_if_up, remove_state, state_path, write_state
from deploy.targets import Target, write_targets

DEFAULT_PROFILE = "h100x2-70b"  # the profile `turnbench compare` gives its own emulators
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# The price `turnbench compare` puts on its built-in emulators: what the emulated hardware would cost.
EMULATOR_BILLING = {
    "kind": "pod",
    "usd_per_hour": round(FALLBACK_USD_PER_GPU_HOUR[(DEFAULT_GPU_TYPE, "SECURE")] * 2, 2),
    "source": f"default: Runpod 2x H100 SXM Secure, {FALLBACK_AS_OF}",
}


def up_local(targets_path: Path, profile: str, progress: Progress) -> list[Target]:
    refuse_if_up(targets_path)
    started: list[LocalProcess] = []
    try:
        for engine in LAUNCHABLE:
            started.append(_start(engine, profile, targets_path))
            progress(f"  {engine} emulator (pid {started[-1].pid}) listening on {started[-1].url}")
        write_state(targets_path, DeployState("local", processes=tuple(started)))
        targets = [_target(p, profile) for p in started]
        write_targets(targets_path, targets)
    except BaseException:  # an emulator that failed, or Ctrl-C: leave nothing running
        for process in started:
            _stop(process.pid)
        remove_state(targets_path)
        raise
    return targets


def down_local(targets_path: Path, progress: Progress) -> int:
    """Stop the recorded emulators; returns how many were still running."""
    state = load_state(targets_path)
    if state is None or state.kind != "local":
        raise DeployError(f"no local emulators are recorded in {state_path(targets_path)}; nothing to stop")
    stopped = 0
    for process in state.processes:
        if _stop(process.pid):
            stopped += 1
            progress(f"  stopped the {process.engine} emulator (pid {process.pid})")
    remove_state(targets_path)
    return stopped


def running(process: LocalProcess) -> bool:
    return _is_emulator(process.pid)


def _target(process: LocalProcess, profile: str) -> Target:
    return Target(
        name=f"{process.engine}-emulated",
        engine=process.engine,
        base_url=process.url,
        model="emulated",  # the emulator's default served model name
        metrics_url=f"{process.url}/metrics",
        gpu_type=DEFAULT_GPU_TYPE,
        gpu_count=2,
        billing=dict(EMULATOR_BILLING),
        launch={"emulator": True, "profile": profile, "command": f"turnbench emulate --engine {process.engine}"},
    )


def _start(engine: str, profile: str, targets_path: Path) -> LocalProcess:
    log = targets_path.with_name(f"{targets_path.stem}.{engine}-emulator.log")
    command = [sys.executable, "-m", "turnbench", "emulate", "--engine", engine, "--host", "127.0.0.1", "--port", "0"]
    with log.open("wb") as out:  # a file, not a pipe: nobody will read a pipe once this command exits
        process = subprocess.Popen(
            [*command, "--profile", profile],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if " listening on " in text:
            return LocalProcess(engine, process.pid, text.split(" listening on ")[1].split()[0], str(log))
        if process.poll() is not None:
            last = (text.strip().splitlines() or ["no output"])[-1]
            raise DeployError(f"the {engine} emulator did not start ({last}); see {log}")
        time.sleep(0.05)
    _stop(process.pid)
    raise DeployError(f"the {engine} emulator did not start within {START_TIMEOUT_S:g} s; see {log}")


def _is_emulator(pid: int) -> bool:
    """Alive, not a zombie, and still a turnbench emulator: a recycled pid is never signalled."""
    with contextlib.suppress(ChildProcessError):  # reap it if it is our own child (tests start it in-process)
        os.waitpid(pid, os.WNOHANG)
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        if Path("/proc/self").exists():
            return False
        try:  # no /proc (macOS): trust the pid
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return False
    return state != "Z" and b"turnbench" in cmdline and b"emulate" in cmdline


def _stop(pid: int) -> bool:
    """SIGTERM (the emulator stops cleanly), SIGKILL if it hangs; False if it was not running."""
    if not _is_emulator(pid):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:  # it ended between the check and the signal
        return True
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if not _is_emulator(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True
