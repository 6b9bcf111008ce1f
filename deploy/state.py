"""What a deployment left running, recorded next to its targets.toml so `down` can undo exactly that.

`targets.deploy.json` beside `targets.toml` holds pod, serverless endpoint and template ids (Runpod)
or process ids and URLs (local emulators): never a key. It is written as soon as each pod or
endpoint exists, not after the deployment succeeded, so even a deploy killed with SIGKILL leaves a
trail `down` can follow. Records written before endpoints existed (no `endpoints`, `templates`) read
as having none.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deploy.errors import DeployError

KINDS = ("runpod", "local")


@dataclass(frozen=True)
class LocalProcess:
    engine: str
    pid: int
    url: str
    log: str


@dataclass(frozen=True)
class DeployState:
    kind: str  # runpod | local
    deploy_id: str = ""
    pods: dict[str, str] = field(default_factory=dict)  # pod id -> engine
    processes: tuple[LocalProcess, ...] = ()
    endpoints: dict[str, str] = field(default_factory=dict)  # serverless endpoint id -> engine
    templates: dict[str, str] = field(default_factory=dict)  # template id -> engine

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["processes"] = [asdict(p) for p in self.processes]
        return data


def state_path(targets: Path) -> Path:
    return targets.with_suffix(".deploy.json")


def load_state(targets: Path) -> DeployState | None:
    path = state_path(targets)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        processes = tuple(LocalProcess(**p) for p in data.get("processes", []))
        state = DeployState(
            data["kind"],
            data.get("deploy_id", ""),
            dict(data.get("pods", {})),
            processes,
            dict(data.get("endpoints", {})),
            dict(data.get("templates", {})),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise DeployError(f"{path} is not a turnbench deploy record; remove it if nothing is running") from None
    if state.kind not in KINDS:
        raise DeployError(f"{path}: unknown kind {state.kind!r}; remove it if nothing is running")
    return state


def write_state(targets: Path, state: DeployState) -> None:
    """Atomically, so an interrupted write never leaves a record `down` cannot read."""
    path = state_path(targets)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state.to_json(), indent=2) + "\n")
    os.replace(temporary, path)


def remove_state(targets: Path) -> None:
    state_path(targets).unlink(missing_ok=True)


def refuse_if_up(targets: Path) -> None:
    """A new deployment on a targets file whose last one is still recorded would lose track of it."""
    if load_state(targets) is not None:
        raise DeployError(
            f"{state_path(targets)} records a deployment still up; run `turnbench deploy down --targets "
            f"{targets}` first, or use another --targets"
        )
