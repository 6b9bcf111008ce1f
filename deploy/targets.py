"""`targets.toml`: where each engine is and what it costs, the file deploy/ writes for the harness.

One `[[target]]` table per engine (DESIGN.md): name, engine, base_url, model, api_key_env (the
NAME of an environment variable, never the key), metrics_url, gpu_type, gpu_count, billing
(`{kind = "pod", usd_per_hour = ...}` or `{kind = "serverless", usd_per_gpu_second = ...}`) and
launch (image, flags, versions) for the record. Optional: admin_key_env, the NAME of the variable
holding the key an SGLang started with --admin-api-key wants for its cache flush.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.engines import ENGINES
from deploy.toml_file import read_toml


class TargetsError(ValueError):
    """A targets file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Target:
    name: str
    engine: str
    base_url: str
    model: str = ""
    api_key_env: str | None = None
    metrics_url: str | None = None
    gpu_type: str | None = None
    gpu_count: int = 1
    billing: dict[str, Any] = field(default_factory=dict)
    launch: dict[str, Any] = field(default_factory=dict)
    admin_key_env: str | None = None  # NAME of the variable with the engine's admin key (cache flush), never the key

    @property
    def usd_per_hour(self) -> float:
        """What the target costs per hour while it is up (pods), or 0 when billed per use."""
        if self.billing.get("kind") == "pod":
            return float(self.billing.get("usd_per_hour", 0.0))
        return 0.0

    def to_toml(self) -> str:
        lines = ["[[target]]"]
        keys = ("name", "engine", "base_url", "model", "api_key_env", "admin_key_env", "metrics_url", "gpu_type",
                "gpu_count")  # fmt: skip
        for key in keys:
            value = getattr(self, key)
            if value not in (None, ""):
                lines.append(f"{key} = {json.dumps(value)}")
        for table in ("billing", "launch"):
            value = getattr(self, table)
            if value:
                inline = ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items())
                lines.append(f"{table} = {{ {inline} }}")
        return "\n".join(lines) + "\n"


def load_targets(path: Path) -> list[Target]:
    data = read_toml(path, TargetsError)
    tables = data.get("target")
    if not isinstance(tables, list) or not tables:
        raise TargetsError(f"{path}: no [[target]] tables")
    targets = []
    for i, table in enumerate(tables, 1):
        where = f"{path}: target {i}"
        for key in ("name", "engine", "base_url"):
            if not isinstance(table.get(key), str) or not table[key]:
                raise TargetsError(f"{where}: missing {key}")
        if table["engine"] not in ENGINES:
            raise TargetsError(f"{where}: engine must be one of {', '.join(ENGINES)}, got {table['engine']!r}")
        unknown = set(table) - set(Target.__dataclass_fields__)
        if unknown:
            raise TargetsError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        billing = table.get("billing") or {}
        if billing and billing.get("kind") not in ("pod", "serverless"):
            raise TargetsError(f"{where}: billing.kind must be pod or serverless")
        targets.append(Target(**{**table, "base_url": table["base_url"].rstrip("/")}))
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise TargetsError(f"{path}: target names must be unique")
    return targets


def write_targets(path: Path, targets: list[Target]) -> None:
    header = "# Written by turnbench deploy. Keys are never stored here: api_key_env names a variable.\n\n"
    path.write_text(header + "\n".join(t.to_toml() for t in targets))
