"""Warnings (analysis/figures/caveats.py): each fires on a run that should trigger it, and not otherwise."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from analysis.figures.caveats import EMULATED_NOTICE
from analysis.figures.findings import find
from analysis.report.build import build_report
from tests.analysis.rundirs import Spec, run_info, write_run

BASE = Spec(conversations=120, seed=1)
CANDIDATE = Spec(target="sglang", engine="sglang", conversations=120, seed=2)


def kinds(tmp_path: Path, locust_only: bool = False, **changes: Any) -> set[str]:
    runs = [write_run(tmp_path, BASE), write_run(tmp_path, replace(CANDIDATE, **changes), locust_only=locust_only)]
    return {c.kind for c in find(runs, None, None, 5.0).caveats}


def test_a_clean_pair_has_no_warnings(tmp_path: Path) -> None:
    assert kinds(tmp_path) == set()


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"emulator": True}, "emulated_engine"),
        ({"saturated": True}, "load_generator_saturated"),
        ({"cache_flushed": None}, "cache_state_differs"),
        ({"status": "interrupted"}, "run_not_complete"),
        ({"completion_tokens": 230.0}, "output_parity"),
        ({"billing": None}, "default_price"),
    ],
)
def test_each_warning_fires_alone(tmp_path: Path, changes: dict[str, Any], kind: str) -> None:
    assert kinds(tmp_path, **changes) == {kind}


def test_output_lengths_within_5_percent_are_at_parity(tmp_path: Path) -> None:
    assert kinds(tmp_path, completion_tokens=208.0) == set()


def test_locust_csv_only_mode_is_a_warning(tmp_path: Path) -> None:
    assert kinds(tmp_path, locust_only=True) == {"locust_csv_only", "default_price"}  # no run.json: no price either


def test_the_emulator_notice_is_said_once_per_page_and_in_the_summary(tmp_path: Path) -> None:
    runs = [write_run(tmp_path, BASE), write_run(tmp_path, Spec(target="emu", seed=3, emulator=True))]
    result = build_report(runs, tmp_path / "out", None, None)
    html = result.html.read_text()
    markdown = result.markdown.read_text()
    # Once per page, not under each of the page's many tables.
    assert html.count("<table>") > 5 and html.count(EMULATED_NOTICE) == 1
    assert markdown.count("| :---|") + markdown.count("|:---|") > 5 and markdown.count(EMULATED_NOTICE) == 1
    assert f'<p class="note">{EMULATED_NOTICE}' not in html and f"*{EMULATED_NOTICE}*" not in markdown
    assert html.index(EMULATED_NOTICE) < html.index("<h2>Summary</h2>")  # at the top of the page
    assert markdown.index(EMULATED_NOTICE) < markdown.index("## Summary")
    assert EMULATED_NOTICE in result.summary
    assert result.summary_json.read_text().count(EMULATED_NOTICE) >= 1


def test_no_notice_without_an_emulator(tmp_path: Path) -> None:
    result = build_report([write_run(tmp_path, BASE)], tmp_path / "out", None, None)
    for text in (result.html.read_text(), result.markdown.read_text(), result.summary):
        assert "emulated engine" not in text


def test_records_that_did_not_all_arrive_are_a_warning(tmp_path: Path) -> None:
    lost = "worker-1 was lost (missing heartbeat): 7 turn rows of its arrived, the rows it had not yet sent are unknown"
    reconciliation = {"complete": False, "differences": [lost], "requests_csv_rows": 7, "workers": {}}
    info = run_info(CANDIDATE, reconciliation=reconciliation)
    runs = [write_run(tmp_path, BASE), write_run(tmp_path, CANDIDATE, info=info)]
    (caveat,) = find(runs, None, None, 5.0).caveats
    assert caveat.kind == "records_incomplete" and caveat.targets == ("sglang",) and lost in caveat.message
