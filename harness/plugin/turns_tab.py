"""The "Turns" tab of Locust's web UI: how each turn of the conversations is doing, live.

Locust's React app draws extra tabs from `template_args` and fills their tables from an
`extended_stats` list added to the `/stats/requests` JSON (notes/locust.md 8). Latency comes from
the per-turn Locust entries (merged across workers by Locust); token shares from the records the
master has received, by the one cached-token rule (harness.recording.cached_rule). Branches
(regenerate, edit) have their own row after the turns, as in the report.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from flask import Response, request
from locust.env import Environment

from harness.plugin.turn_entries import BRANCH_NAME, E2E, TTFT, turn_name
from harness.recording import cached_rule
from harness.recording.turn_rows import BRANCHES, TurnTotals

# The records the master has received so far, by turn number or BRANCHES (empty before the first test).
TurnTotalsSource = Callable[[], Mapping[int | str, TurnTotals]]

TAB = "turns"
COLUMNS = [
    ("turn", "Turn"),
    ("requests", "Requests"),
    ("failures", "Failures"),
    ("ttft_p50", "TTFT p50 (ms)"),
    ("ttft_p95", "TTFT p95 (ms)"),
    ("e2e_p50", "E2E p50 (ms)"),
    ("e2e_p95", "E2E p95 (ms)"),
    ("cached_share", "Cached prompt share"),
    ("output_tps", "Output tokens/s"),
]


def turn_rows(environment: Environment, turn_totals: TurnTotalsSource) -> list[dict[str, Any]]:
    stats = environment.stats
    totals = turn_totals()
    reported = any(t.cached_reports for t in totals.values())
    keys = {_key(name) for (name, kind) in stats.entries if kind == TTFT} | set(totals)
    turns: list[int | str] = sorted(k for k in keys if isinstance(k, int))
    turns += [BRANCHES] if BRANCHES in keys else []
    rows = []
    for turn in turns:
        name = BRANCH_NAME if turn == BRANCHES else turn_name(int(turn))
        ttft = stats.entries.get((name, TTFT))
        e2e = stats.entries.get((name, E2E))
        t = totals.get(turn)
        rows.append(
            {
                "name": name,
                "turn": name,
                "requests": t.requests if t else (ttft.num_requests if ttft else 0),
                "failures": t.failures if t else 0,
                "ttft_p50": ttft.get_response_time_percentile(0.5) if ttft else "",
                "ttft_p95": ttft.get_response_time_percentile(0.95) if ttft else "",
                "e2e_p50": e2e.get_response_time_percentile(0.5) if e2e else "",
                "e2e_p95": e2e.get_response_time_percentile(0.95) if e2e else "",
                "cached_share": _share(t, reported),
                "output_tps": round(e2e.current_rps * e2e.avg_content_length, 1) if e2e else "",
            }
        )
    return rows


def _key(name: str) -> int | str | None:
    """The records' key of a per-turn Locust entry ("turn 03" -> 3, "branch" -> BRANCHES)."""
    if name == BRANCH_NAME:
        return BRANCHES
    number = name.removeprefix("turn ")
    return int(number) if number.isdigit() else None


def _share(totals: TurnTotals | None, reported: bool) -> str:
    share = cached_rule.share(totals.cached_tokens, totals.prompt_tokens, reported) if totals else None
    return "" if share is None else f"{share:.1%}"


def add_turns_tab(environment: Environment, turn_totals: TurnTotalsSource) -> None:
    web_ui = environment.web_ui
    assert web_ui is not None and web_ui.app is not None
    web_ui.template_args.update(
        extended_tabs=[{"title": "Turns", "key": TAB}],
        extended_tables=[{"key": TAB, "structure": [{"key": k, "title": t} for k, t in COLUMNS]}],
    )

    @web_ui.app.after_request
    def add_turn_stats(response: Response) -> Response:
        if request.path != "/stats/requests" or not response.is_json:
            return response
        body = response.get_json()
        body["extended_stats"] = [{"key": TAB, "data": turn_rows(environment, turn_totals)}]
        response.set_data(json.dumps(body))
        return response
