"""Start the ground-truth server in its own process, on 127.0.0.1 only, and read its log."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from deploy.emulator.process import stop_process


@dataclass
class GroundTruth:
    url: str
    process: subprocess.Popen[str]

    def log(self, clear: bool = True) -> dict[str, dict[str, Any]]:
        """The server's records, by response id; cleared after reading unless asked not to."""
        query = "?clear=1" if clear else ""
        with urllib.request.urlopen(f"{self.url}/groundtruth/log{query}", timeout=10) as response:
            return {entry["id"]: entry for entry in json.load(response)}


@contextmanager
def running_groundtruth(*args: str, env: dict[str, str] | None = None) -> Iterator[GroundTruth]:
    """`args` are the server's command-line options (see harness/bench/groundtruth/server.py)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.bench.groundtruth.server", "--host", "127.0.0.1", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"ground-truth server did not start: {line!r}")
        yield GroundTruth(line.split()[-1], process)
    finally:
        stop_process(process)
