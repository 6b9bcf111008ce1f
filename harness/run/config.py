"""What `turnbench run` should do: built-in defaults < a config file < environment < command line.

A scheduled run is described by one TOML file (`--config`, see deploy/schedules/nightly.toml):
`[run]` holds the load and the target, `[slo]` the gates, `[locust] extra` options for Locust
itself. Any setting can be overridden by an environment variable `TURNBENCH_<NAME>` (upper case,
e.g. TURNBENCH_HOST) or by the command-line flag, which wins.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deploy.toml_file import read_toml
from harness.run.process_choice import DEFAULT_STREAM_TPS
from harness.slo import KEYS as SLO_KEYS
from harness.slo import Slo, SloError

AUTO = "auto"


def process_count(value: object) -> int | str:
    """`processes`: a whole number of Locust processes (0: one, in plain local mode) or "auto"."""
    if str(value).strip().lower() == AUTO:
        return AUTO
    if isinstance(value, bool | float):  # TOML's `true` and `2.5` are not process counts
        raise ValueError(value)
    count = int(str(value))
    if count < 0:
        raise ValueError(value)
    return count


# name -> (built-in default, type or converter). The command-line flags use the same names with dashes.
RUN_SETTINGS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "host": ("", str),
    "scenario": ("support", str),
    "users": (10, int),
    "spawn_rate": (5.0, float),
    "run_time": ("60s", str),
    "processes": (0, process_count),
    "workers": (0, int),
    "out": ("runs", str),
    "target_name": ("", str),
    "model": ("", str),
    "tokenizer": ("", str),
    "engine": ("", str),
    "api_key_env": ("", str),
    "price_usd_per_hour": (0.0, float),
    "think_time_scale": (1.0, float),
    "max_failure_rate": (0.05, float),
    "stop_timeout": (120.0, float),
    "shape": ("", str),
    "expected_stream_tps": (DEFAULT_STREAM_TPS, float),  # for --processes auto: one stream's decode speed
}
WANTED: dict[Callable[[Any], Any], str] = {
    int: "an integer", float: "a number", process_count: "a whole number of processes (0: one) or 'auto'",
}  # fmt: skip


class ConfigError(ValueError):
    """A run configuration that cannot be used; one line naming the file or variable and the key."""


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Flags default to None so that `resolve` can tell "not given" from a value."""
    short = {"users": "-u", "spawn_rate": "-r", "run_time": "-t"}
    for name, (default, kind) in RUN_SETTINGS.items():
        flags = [f"--{name.replace('_', '-')}"] + ([short[name]] if name in short else [])
        # A setting with its own converter is converted in `resolve`, so that a bad value is one line.
        flag_type = kind if kind in (int, float, str) else str
        parser.add_argument(*flags, dest=name, type=flag_type, default=None, help=f"(default: {default!r})")


def resolve(args: argparse.Namespace, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Settings and SLO, each from the highest-priority place that sets it."""
    env = os.environ if environ is None else environ
    config = _read(Path(args.config)) if getattr(args, "config", None) else {}
    run_table, slo_table = config.get("run", {}), config.get("slo", {})
    settings: dict[str, Any] = {}
    for name, (default, kind) in RUN_SETTINGS.items():
        value = getattr(args, name, None)
        if value is not None and kind not in (int, float, str):
            value = _convert(value, kind, f"--{name.replace('_', '-')}")
        if value is None and f"TURNBENCH_{name.upper()}" in env:
            value = _convert(env[f"TURNBENCH_{name.upper()}"], kind, f"TURNBENCH_{name.upper()}")
        if value is None and name in run_table:
            value = _convert(run_table[name], kind, f"{args.config}: [run] {name}")
        settings[name] = default if value is None else value
    try:
        slo = Slo.from_mapping(slo_table, f"{args.config}: [slo]").merged(Slo.parse(getattr(args, "slo", None) or []))
    except SloError as exc:
        raise ConfigError(str(exc)) from exc
    settings["slo"] = slo
    settings["locust_extra"] = [str(a) for a in config.get("locust", {}).get("extra", [])]
    return settings


def _read(path: Path) -> dict[str, Any]:
    data = read_toml(path, ConfigError)
    known: dict[str, Any] = {"run": RUN_SETTINGS, "slo": SLO_KEYS, "locust": {"extra": list}}
    for table, values in data.items():
        if table not in known or not isinstance(values, dict):
            raise ConfigError(f"{path}: unknown table [{table}] (known: [run], [slo], [locust])")
        for key in values:
            if key not in known[table]:
                raise ConfigError(f"{path}: [{table}] unknown key {key!r}")
    return data


def _convert(value: Any, kind: Callable[[Any], Any], where: str) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        wanted = WANTED.get(kind, "a string")
        raise ConfigError(f"{where}: expected {wanted}, got {value!r}") from None
