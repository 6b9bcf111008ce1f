"""What one streamed token costs turnbench's client in CPU on this machine.

`turnbench bench` measures it and `save`s it to `$XDG_CACHE_HOME/turnbench/client_cost.json`
(default `~/.cache/turnbench/client_cost.json`); `turnbench run --processes auto` `load`s it to
size the load generator. Without the file, the figure measured on the reference machine stands in.
A file that cannot be used is a one-line warning and the default, never a reason to stop a run.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

# Client CPU per streamed token on turnbench's 2-core reference machine (`make bench-client`:
# 24 to 28 ms per 1,000 tokens), rounded up so that the default errs towards more processes.
DEFAULT_US_PER_TOKEN = 30.0
DEFAULT_SOURCE = "the figure measured on turnbench's 2-core reference machine; run `turnbench bench` to measure yours"


class ClientCostFile(TypedDict):
    us_per_token: float  # client CPU time per streamed token, in microseconds
    measured_at: str  # UTC, ISO 8601
    machine: str  # what it was measured on, for the user (e.g. CPU model and core count)
    source: str  # what measured it


@dataclass(frozen=True)
class ClientCost:
    us_per_token: float
    source: str  # where the figure comes from, in words for the user
    measured: bool = False  # False: the reference machine's figure
    warning: str = ""  # set when a cost file exists but could not be used


def cost_path(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    cache = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "turnbench" / "client_cost.json"


def load(path: Path | None = None) -> ClientCost:
    """The measured cost when the file holds one, else the default (with a warning if the file is bad)."""
    path = cost_path() if path is None else path
    default = ClientCost(DEFAULT_US_PER_TOKEN, DEFAULT_SOURCE)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not JSON"
        return ClientCost(DEFAULT_US_PER_TOKEN, DEFAULT_SOURCE, warning=_unusable(path, reason))
    value = data.get("us_per_token") if isinstance(data, dict) else None
    # bool is an int to Python, and true is no number of microseconds.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        return ClientCost(DEFAULT_US_PER_TOKEN, DEFAULT_SOURCE, warning=_unusable(path, f"us_per_token is {value!r}"))
    return ClientCost(float(value), _display(path), measured=True)


def save(us_per_token: float, machine: str, path: Path | None = None, source: str = "turnbench bench") -> Path:
    """Write a measured cost where `load` finds it (atomically: a run never reads half a file)."""
    if isinstance(us_per_token, bool) or not math.isfinite(us_per_token) or us_per_token <= 0:
        raise ValueError(f"us_per_token must be a positive number of microseconds, got {us_per_token!r}")
    path = cost_path() if path is None else path
    record: ClientCostFile = {
        "us_per_token": float(us_per_token),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine,
        "source": source,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def _unusable(path: Path, reason: str) -> str:
    return (
        f"{_display(path)} is not a usable client cost file ({reason}); "
        f"using {DEFAULT_US_PER_TOKEN:g} µs/token (run `turnbench bench` to rewrite it)"
    )


def _display(path: Path) -> str:
    """The path as the user knows it: ~ for the home folder."""
    home = Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)
