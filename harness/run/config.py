"""What `turnbench run` should do: built-in defaults < a config file < environment < command line.

A scheduled run is described by one TOML file (`--config`, see deploy/schedules/nightly.toml):
`[run]` holds the load and the target, `[slo]` the gates, `[locust] extra` options for Locust
itself. Any setting can be overridden by an environment variable `TURNBENCH_<NAME>` (upper case,
e.g. TURNBENCH_HOST) or by the command-line flag, which wins.
"""

from __future__ import annotations

import argparse
import math
import os
import re
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


RATE_UNITS = {"h": 1.0, "hour": 1.0, "min": 60.0, "m": 60.0, "s": 3600.0, "sec": 3600.0}  # to per hour
DURATION_UNITS = {"h": 3600.0, "m": 60.0, "min": 60.0, "s": 1.0}


def rate_per_hour(value: object) -> float:
    """A rate in conversations per hour: `1200` (a bare number is per hour), `1200/h`, `20/min`, `0.5/s`."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        number, unit = float(value), "h"
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(?:/\s*([a-z]+))?\s*", str(value).lower())
        if match is None or (match[2] or "h") not in RATE_UNITS:
            raise ValueError(value)
        number, unit = float(match[1]), match[2] or "h"
    if not math.isfinite(number) or number < 0:
        raise ValueError(value)
    return number * RATE_UNITS[unit]


def duration_s(value: object) -> float:
    """A duration in seconds: `20` (seconds), `20s`, `1.5m`, `1m30s`, `1h`."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        if re.fullmatch(r"[0-9]*\.?[0-9]+", text):
            seconds = float(text)
        elif re.fullmatch(r"(?:[0-9]*\.?[0-9]+(?:h|min|m|s))+", text):
            parts = re.findall(r"([0-9]*\.?[0-9]+)(h|min|m|s)", text)
            seconds = sum(float(number) * DURATION_UNITS[unit] for number, unit in parts)
        else:
            raise ValueError(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(value)
    return seconds


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
    # Open loop: new conversations per hour, all processes together (0: closed loop, -u users).
    # With it, -u is the number of lines; not given, turnbench sizes it (harness.run.line_sizing).
    "arrival_rate": (0.0, rate_per_hour),
    "warmup": (0.0, duration_s),  # seconds the analysis does not judge; recorded in run.json `load`
    "max_failure_rate": (0.05, float),
    "stop_timeout": (120.0, float),
    "shape": ("", str),
    "expected_stream_tps": (DEFAULT_STREAM_TPS, float),  # for --processes auto: one stream's decode speed
}
WANTED: dict[Callable[[Any], Any], str] = {
    int: "an integer", float: "a number", process_count: "a whole number of processes (0: one) or 'auto'",
    rate_per_hour: "a rate like 1200/h, 20/min or 0.5/s (a bare number is per hour)",
    duration_s: "a duration like 20s, 2m or 1m30s (a bare number is seconds)",
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
    given: set[str] = set()  # the settings set anywhere, not left at their built-in default
    for name, (default, kind) in RUN_SETTINGS.items():
        value = getattr(args, name, None)
        if value is not None and kind not in (int, float, str):
            value = _convert(value, kind, f"--{name.replace('_', '-')}")
        if value is None and f"TURNBENCH_{name.upper()}" in env:
            value = _convert(env[f"TURNBENCH_{name.upper()}"], kind, f"TURNBENCH_{name.upper()}")
        if value is None and name in run_table:
            value = _convert(run_table[name], kind, f"{args.config}: [run] {name}")
        settings[name] = default if value is None else value
        if value is not None:
            given.add(name)
    try:
        slo = Slo.from_mapping(slo_table, f"{args.config}: [slo]").merged(Slo.parse(getattr(args, "slo", None) or []))
    except SloError as exc:
        raise ConfigError(str(exc)) from exc
    settings["slo"] = slo
    settings["locust_extra"] = [str(a) for a in config.get("locust", {}).get("extra", [])]
    settings["given"] = frozenset(given)
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
