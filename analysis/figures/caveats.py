"""Warnings: reasons a reader should not take the numbers at face value.

Each has a kind (stable, for summary.json and tests), the targets it concerns and one plain
sentence. They are checked on every report, and the report shows all that fired at its top.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from analysis.figures.per_target import TargetAnalysis
from analysis.figures.ratios import Comparison

EMULATED_NOTICE = "emulated engine: these numbers come from a model, not a GPU"
OUTPUT_PARITY_TOLERANCE = 0.05  # beyond 5% more tokens per turn, E2E and cost compare different work


@dataclass(frozen=True)
class Caveat:
    kind: str  # emulated_engine, output_parity, load_generator_saturated, cache_state_differs,
    # run_not_complete, records_incomplete, lagged_turns_left_out, default_price, locust_csv_only
    targets: tuple[str, ...]
    message: str


def caveats(targets: Sequence[TargetAnalysis], comparisons: Sequence[Comparison]) -> list[Caveat]:
    found: list[Caveat] = []
    by_label = {t.label: t for t in targets}
    for target in targets:
        info, label = target.run.info, target.label
        if target.run.emulated:
            found.append(Caveat("emulated_engine", (label,), f"{label}: {EMULATED_NOTICE}."))
        if info and info["status"] != "complete":
            found.append(
                Caveat(
                    "run_not_complete",
                    (label,),
                    f"{label}: the run's status is {info['status']!r}, not 'complete'; it may have stopped early.",
                )
            )
        reconciliation = info.get("reconciliation") if info else None
        differences = reconciliation["differences"] if reconciliation else []
        if differences:
            found.append(
                Caveat(
                    "records_incomplete",
                    (label,),
                    f"{label}: not every turn reached the records ({'; '.join(differences)}); its figures count "
                    "only the turns that did.",
                )
            )
        generator = info.get("load_generator") if info else None
        if generator and generator.get("saturated"):
            found.append(
                Caveat(
                    "load_generator_saturated",
                    (label,),
                    f"{label}: the load generator was saturated (event-loop lag p99 "
                    f"{generator.get('lag_p99_ms', math.nan):.0f} ms); its latencies may be inflated by the client.",
                )
            )
        if target.lagged_turns:
            found.append(
                Caveat(
                    "lagged_turns_left_out",
                    (label,),
                    f"{label}: {target.lagged_turns} successful turn(s) were measured while the load generator's "
                    "event loop stalled beyond its lag limit; they are left out of the latency figures (the "
                    "failure rate still counts them).",
                )
            )
        if target.cost.price.is_default:
            found.append(
                Caveat(
                    "default_price",
                    (label,),
                    f"{label}: run.json has no price, so costs use the {target.cost.price.source}; "
                    "pass --price TARGET=USD_PER_HOUR for yours.",
                )
            )
        if target.run.limits:
            found.append(Caveat("locust_csv_only", (label,), f"{label}: {target.run.limits}"))
    # A salted run starts as cold as a flushed one: its shared context matches nothing cached before it.
    started = {t.label: _start_state(t.run.info) for t in targets if t.run.info}
    if len({cold for cold, _ in started.values()}) > 1:
        states = ", ".join(f"{label}: {state}" for label, (_, state) in started.items())
        found.append(
            Caveat(
                "cache_state_differs",
                tuple(started),
                f"The prefix cache started in different states ({states}); early turns are not comparable.",
            )
        )
    for comparison in comparisons:
        base, cand = by_label[comparison.baseline], by_label[comparison.candidate]
        a, b = base.completion_tokens_p50, cand.completion_tokens_p50
        if a > 0 and b > 0 and abs(b / a - 1.0) > OUTPUT_PARITY_TOLERANCE:
            found.append(
                Caveat(
                    "output_parity",
                    (base.label, cand.label),
                    f"Output parity: the median turn produced {b:.0f} tokens on {cand.label} and {a:.0f} on "
                    f"{base.label} ({b / a - 1.0:+.0%}); E2E and cost compare different amounts of work. "
                    "Use exact output lengths (min_tokens, ignore_eos).",
                )
            )
    return found


def _start_state(info: Mapping[str, Any]) -> tuple[bool | None, str]:
    """(whether the run started from a cold cache, None when unknown; how it is said)."""
    salt = info.get("cache_salt")
    if isinstance(salt, Mapping) and salt.get("on"):
        return True, "salted"
    value = info.get("cache_flushed")
    if value is True:
        return True, "flushed before the run"
    if value is False:
        return False, "not flushed"
    return None, "unknown"
