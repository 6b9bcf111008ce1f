"""Engine profiles: how long a batching step takes, how much KV fits, how long answers run.

A profile is a TOML file (see `profiles/`); built-in ones are named by file stem. The step-time
model is deliberately linear and explicit, so a user can read why an emulated TTFT came out as
it did and recalibrate it from their own measurements.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from deploy.toml_file import read_toml

BUILTIN = Path(__file__).with_name("profiles")
DEFAULT_PROFILE = "h100x2-70b"


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    kv_budget_tokens: int
    max_model_len: int
    max_running: int
    prefill_chunk_tokens: int
    base_ms: float
    prefill_ms_per_token: float
    decode_ms_per_seq: float
    kv_ms_per_1k_tokens: float
    mean_output_tokens: float
    output_sigma: float
    reasoning_share: float

    def step_ms(self, prefill_tokens: int, running: int, kv_tokens: int) -> float:
        return (
            self.base_ms
            + self.prefill_ms_per_token * prefill_tokens
            + self.decode_ms_per_seq * running
            + self.kv_ms_per_1k_tokens * kv_tokens / 1000.0
        )

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# (table, key) in the file -> (field, type, lowest allowed value)
_SCHEMA: dict[tuple[str, str], tuple[str, type, float]] = {
    ("kv", "budget_tokens"): ("kv_budget_tokens", int, 1),
    ("kv", "max_model_len"): ("max_model_len", int, 2),
    ("scheduler", "max_running"): ("max_running", int, 1),
    ("scheduler", "prefill_chunk_tokens"): ("prefill_chunk_tokens", int, 1),
    ("step", "base_ms"): ("base_ms", float, 0.0),
    ("step", "prefill_ms_per_token"): ("prefill_ms_per_token", float, 0.0),
    ("step", "decode_ms_per_seq"): ("decode_ms_per_seq", float, 0.0),
    ("step", "kv_ms_per_1k_tokens"): ("kv_ms_per_1k_tokens", float, 0.0),
    ("output", "mean_tokens"): ("mean_output_tokens", float, 1.0),
    ("output", "sigma"): ("output_sigma", float, 0.0),
    ("output", "reasoning_share"): ("reasoning_share", float, 0.0),
}


def load_profile(name_or_path: str | Path = DEFAULT_PROFILE) -> Profile:
    """A built-in profile by name (`fast`, `h100x2-70b`) or a TOML file by path."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = BUILTIN / f"{name_or_path}.toml"
        if not path.exists():
            known = ", ".join(sorted(p.stem for p in BUILTIN.glob("*.toml")))
            raise ProfileError(f"no built-in profile {name_or_path!r} (built-in: {known}; or give a .toml path)")
    data = read_toml(path, ProfileError)

    values: dict[str, Any] = {"name": path.stem, "description": str(data.get("description", path.stem))}
    for (table, key), (field, kind, lowest) in _SCHEMA.items():
        section = data.get(table)
        if not isinstance(section, dict) or key not in section:
            raise ProfileError(f"{path}: missing [{table}] {key}")
        value = section[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (kind is int and not isinstance(value, int))
        ):
            raise ProfileError(f"{path}: [{table}] {key} must be a{'n integer' if kind is int else ' number'}")
        if value < lowest:
            raise ProfileError(f"{path}: [{table}] {key} must be at least {lowest}")
        values[field] = kind(value)
    if values["reasoning_share"] >= 1.0:
        raise ProfileError(f"{path}: [output] reasoning_share must be below 1")
    return Profile(**values)
