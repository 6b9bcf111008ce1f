"""Run an emulator in its own process, on 127.0.0.1 only: for gevent code (Locust, tests, demos).

Its own process keeps the emulator's timing apart from the load generator's: on one event loop,
a busy client would make the server late and the server a busy client.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class EmulatorStartError(RuntimeError):
    pass


@contextmanager
def running_emulator(engine: str, *args: str, cpu: int | None = None) -> Iterator[str]:
    """Yields the base URL. `args` are `turnbench emulate` options (--profile, --faults, --seed, ...);
    `cpu` pins the emulator to one core (for benchmarks)."""
    command = [sys.executable, "-m", "turnbench", "emulate", "--engine", engine, "--host", "127.0.0.1"]
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    process = subprocess.Popen(
        [*command, "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=pin
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        line = process.stdout.readline().decode()
        if " listening on " not in line:
            error = process.stderr.read().decode().strip() if process.wait(timeout=10) is not None else ""
            raise EmulatorStartError(f"the {engine} emulator did not start: {error or line.strip()}")
        yield line.split(" listening on ")[1].split()[0]
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
