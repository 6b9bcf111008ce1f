"""How a finished `turnbench run` is judged: exit code, one summary line, JUnit, run history.

The order of verdicts matters: a run that failed or was interrupted says nothing about the SLO;
a saturated load generator makes every latency suspect, so it outranks a failed gate. Rows that
did not all arrive (a lost worker, run.json's `reconciliation`) are said on the summary line,
whatever the verdict: the figures then stand on the turns that did.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.recording.run_dir import INDEX_COLUMNS, INDEX_CSV, LATE_START_S, REQUESTS_CSV, RUN_JSON
from harness.recording.turn_summary import read_turn_rows, summarise
from harness.run.slo_gates import GateResult, evaluate, junit_xml
from harness.slo import Slo

EXIT_OK, EXIT_RUN_FAILED, EXIT_GATE_FAILED, EXIT_SATURATED, EXIT_INTERRUPTED = 0, 1, 3, 4, 130
JUNIT_XML = "junit.xml"
SUMMARY_DIFFERENCES = 3  # the summary line names this many of the records' differences; run.json has all


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    summary_line: str
    gates: tuple[GateResult, ...]


def judge(run_dir: Path, locust_code: int, interrupted: bool, settings: dict[str, Any]) -> Outcome:
    info = _read_json(run_dir / RUN_JSON)
    requests = run_dir / REQUESTS_CSV
    slo: Slo = settings["slo"]
    gates = evaluate(requests, slo) if requests.exists() and slo.bounds else []
    figures = key_figures(requests)
    saturated = bool((info.get("load_generator") or {}).get("saturated"))
    if interrupted or info.get("status") == "interrupted":
        code, verdict = EXIT_INTERRUPTED, "INTERRUPTED"
    elif locust_code != 0 or not figures["turns"]:
        code, verdict = EXIT_RUN_FAILED, "RUN FAILED"
    elif saturated:
        code, verdict = EXIT_SATURATED, "SATURATED (timings untrustworthy)"
    elif any(not g.passed for g in gates):
        code, verdict = EXIT_GATE_FAILED, "SLO FAILED"
    else:
        code, verdict = EXIT_OK, "PASS"
    extra = [
        ("run completed", None if code not in (EXIT_RUN_FAILED, EXIT_INTERRUPTED) else verdict),
        ("load generator not saturated", "event-loop lag above the limit" if saturated else None),
    ]
    (run_dir / JUNIT_XML).write_text(junit_xml(gates, extra))
    _append_index(Path(settings["out"]) / INDEX_CSV, run_dir, info, figures, settings, code)
    failed = [g.describe() for g in gates if not g.passed]
    line = (
        f"turnbench run: {verdict} (exit {code}): {figures['turns']} turns, "
        f"{figures['failure_rate']:.1%} failed, TTFT p95 {_ms(figures['ttft_p95_ms'])}, "
        f"E2E p95 {_ms(figures['e2e_p95_ms'])}" + _arrivals(info) + (f"; {'; '.join(failed)}" if failed else "")
        + _incomplete(info) + f" -> {run_dir}"
    )  # fmt: skip
    return Outcome(code, line, tuple(gates))


def _arrivals(info: dict[str, Any]) -> str:
    """In arrival mode: the rate asked for, and whether it was offered (conversations that started late)."""
    load = info.get("load") or {}
    if load.get("kind") != "arrivals":
        return ""
    counts = info.get("arrivals") or {}
    started, late, due = (int(counts.get(key) or 0) for key in ("started", "late", "due"))
    text = f"; arrivals {float(load.get('conversations_per_hour') or 0):,.6g}/h: {started} conversations started"
    if late:
        lines = int(counts.get("lines") or 0)
        text += (f", {late} of them late (over {LATE_START_S:g} s after their arrival time: {lines} "
                 f"line{'' if lines == 1 else 's'} too few for the load; raise -u)")  # fmt: skip
    if due > started:
        text += f", {due - started} due but not started"
    return text


def _incomplete(info: dict[str, Any]) -> str:
    """The summary line's account of rows that did not all arrive (nothing when they did)."""
    differences = list((info.get("reconciliation") or {}).get("differences") or [])
    if not differences:
        return ""
    shown = differences[:SUMMARY_DIFFERENCES]
    more = len(differences) - len(shown)
    return "; records incomplete: " + "; ".join(shown) + (f" (and {more} more in run.json)" if more else "")


def key_figures(requests: Path) -> dict[str, Any]:
    summary = summarise(read_turn_rows(requests))
    return {**asdict(summary), "failure_rate": summary.failure_rate or 0.0}


def _append_index(
    path: Path, run_dir: Path, info: dict[str, Any], figures: dict[str, Any], s: dict[str, Any], code: int
) -> None:
    health = info.get("load_generator") or {}
    target = info.get("target") or {}
    row = {
        **figures,
        "run_id": run_dir.name, "run_dir": str(run_dir), "started_at": info.get("started_at"),
        "ended_at": info.get("ended_at"), "target": target.get("name"), "engine": target.get("engine"),
        "scenario": (info.get("scenario") or {}).get("name", s["scenario"]), "users": s["users"],
        "lag_p99_ms": health.get("lag_p99_ms"), "saturated": health.get("saturated"),
        "status": info.get("status"), "exit_code": code,
    }  # fmt: skip
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="") as file:
        writer = csv.writer(file)
        if new:
            writer.writerow(INDEX_COLUMNS)
        writer.writerow(["" if row.get(c) is None else _round(row[c]) for c in INDEX_COLUMNS])


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}
