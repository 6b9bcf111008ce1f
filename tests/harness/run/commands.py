"""What the `turnbench run` tests share: the command as a user runs it, and what the emulator saw."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

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
