"""What the `turnbench run` tests share: the command as a user runs it (to its end, or in the
background), waiting for a state rather than for a time, and what the emulator saw."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self, TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[3]


def turnbench(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "turnbench", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )  # fmt: skip


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def truth(url: str, clear: bool = True) -> list[dict[str, Any]]:
    """The emulator's ground-truth log of the answers it started (cleared unless told not to)."""
    with urllib.request.urlopen(f"{url}/emulator/truth{'?clear=1' if clear else ''}", timeout=10) as response:
        return list(json.load(response))


def only_run(out: Path) -> Path:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = 90.0) -> T:
    """Poll until `condition` holds (its value is returned), never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)
    return value


def descendants(pid: int) -> set[int]:
    try:
        children = {int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()}
    except OSError:  # it has just ended
        return set()
    return children.union(*(descendants(child) for child in children))


class Run:
    """`turnbench run` in the background, its output in files beside its run directory."""

    def __init__(self, host: str, out: Path, *args: str) -> None:
        self.out = out
        out.mkdir(parents=True)
        self.stdout, self.stderr = out / "stdout.txt", out / "stderr.txt"
        with self.stdout.open("w") as stdout, self.stderr.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "turnbench", "run", "--host", host, "--scenario", "support", "--out", str(out),
                 *args], cwd=ROOT, stdout=stdout, stderr=stderr, env={**os.environ, "PYTHONPATH": str(ROOT)},
            )  # fmt: skip

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        """A test that failed half-way leaves nothing running."""
        if self.process.poll() is None:
            for pid in [*descendants(self.process.pid), self.process.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait()

    def file(self, name: str) -> Path | None:
        found = [d / name for d in self.out.iterdir() if (d / name).exists()]
        return found[0] if found else None

    def rows(self) -> list[dict[str, str]]:
        requests = self.file("requests.csv")
        return rows(requests) if requests is not None else []

    def turnbench_lines(self) -> list[str]:
        output = self.stdout.read_text().splitlines() + self.stderr.read_text().splitlines()
        return [line for line in output if line.startswith("turnbench")]
