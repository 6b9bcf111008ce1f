"""Reading and checking run.json (harness.recording.run_dir.RunInfo).

Only the keys the analysis uses are required, each with the type the contract gives it; a missing
or mistyped key is one line naming the file and the dotted key. Keys the contract marks NotRequired
(target.billing, target.gpu_count, cache_flushed, reconciliation) may be absent and get documented
defaults later.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast, get_args

from analysis.errors import AnalysisError
from deploy.engines import ENGINES
from harness.recording.run_dir import RunInfo, RunStatus

STATUSES: tuple[str, ...] = get_args(RunStatus)
BILLING_KINDS = ("pod", "serverless")


def read_run_json(path: Path) -> RunInfo:
    """run.json, checked against the keys the analysis reads."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise AnalysisError(f"{path}: missing; every run directory written by the harness has one") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AnalysisError(f"{path}: not valid JSON ({exc}); the run may have been cut short") from exc
    check = _Checker(path)
    if not isinstance(raw, dict):
        raise AnalysisError(f"{path}: expected a JSON object at the top level")
    target = check.mapping(raw, "target")
    check.string(target, "target.name")
    check.choice(target, "target.engine", tuple(ENGINES))
    if "gpu_count" in target:
        check.integer(target, "target.gpu_count")
    if "billing" in target:
        billing = check.mapping(target, "target.billing")
        check.choice(billing, "target.billing.kind", BILLING_KINDS)
        for key in ("usd_per_hour", "usd_per_gpu_second"):
            if key in billing and billing[key] is not None:
                check.number(billing, f"target.billing.{key}")
    check.number(raw, "started_at")
    check.number(raw, "ended_at", nullable=True)
    check.choice(raw, "status", STATUSES)
    server = check.mapping(raw, "server")
    if "emulator" in server:
        check.boolean(server, "server.emulator")
    generator = check.mapping(raw, "load_generator", nullable=True)
    if generator is not None:
        check.boolean(generator, "load_generator.saturated")
    if "cache_flushed" in raw:
        check.boolean(raw, "cache_flushed", nullable=True)
    if "reconciliation" in raw:  # runs before it was recorded have none: nothing is then known to be lost
        reconciliation = check.mapping(raw, "reconciliation")
        check.boolean(reconciliation, "reconciliation.complete")
        check.strings(reconciliation, "reconciliation.differences")
    return cast(RunInfo, raw)


class _Checker:
    """Typed look-ups whose errors name the file and the dotted key."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def _get(self, obj: dict[str, Any], dotted: str) -> Any:
        key = dotted.rsplit(".", 1)[-1]
        if key not in obj:
            raise AnalysisError(f"{self._path}: missing key {dotted}")
        return obj[key]

    def _fail(self, dotted: str, expected: str, value: object) -> AnalysisError:
        return AnalysisError(f"{self._path}: key {dotted}: expected {expected}, got {json.dumps(value)}")

    def mapping(self, obj: dict[str, Any], dotted: str, nullable: bool = False) -> Any:
        value = self._get(obj, dotted)
        if value is None and nullable:
            return None
        if not isinstance(value, dict):
            raise self._fail(dotted, "an object", value)
        return value

    def string(self, obj: dict[str, Any], dotted: str) -> str:
        value = self._get(obj, dotted)
        if not isinstance(value, str) or not value:
            raise self._fail(dotted, "a non-empty string", value)
        return value

    def choice(self, obj: dict[str, Any], dotted: str, choices: tuple[str, ...]) -> str:
        value = self._get(obj, dotted)
        if value not in choices:
            raise self._fail(dotted, "one of " + ", ".join(choices), value)
        return str(value)

    def number(self, obj: dict[str, Any], dotted: str, nullable: bool = False) -> float | None:
        value = self._get(obj, dotted)
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fail(dotted, "a number", value)
        return float(value)

    def integer(self, obj: dict[str, Any], dotted: str) -> int:
        value = self._get(obj, dotted)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(dotted, "a whole number", value)
        return value

    def strings(self, obj: dict[str, Any], dotted: str) -> list[str]:
        value = self._get(obj, dotted)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self._fail(dotted, "a list of strings", value)
        return value

    def boolean(self, obj: dict[str, Any], dotted: str, nullable: bool = False) -> bool | None:
        value = self._get(obj, dotted)
        if value is None and nullable:
            return None
        if not isinstance(value, bool):
            raise self._fail(dotted, "true or false", value)
        return value
