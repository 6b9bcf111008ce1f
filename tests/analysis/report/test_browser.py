"""report.html in a real browser (headless Chromium via Playwright): tables and charts render offline."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from analysis.report.build import build_report
from tests.analysis.rundirs import Spec, write_run

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]  # fmt: skip
LEVELS = ((8, 240.0), (16, 240.0), (32, 240.0))

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def test_both_targets_tables_and_every_chart_render(tmp_path: Path) -> None:
    runs = [
        write_run(tmp_path, Spec(conversations=300, levels=LEVELS, load_factor=0.03, seed=1)),
        write_run(tmp_path, Spec(target="sglang", engine="sglang", conversations=300, levels=LEVELS, seed=2)),
    ]
    result = build_report(runs, tmp_path / "out", None, None)
    requested: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.goto(result.html.as_uri())
            page.wait_for_load_state("load")
            for target in ("vllm", "sglang"):
                table = page.locator("table", has=page.locator("caption", has_text=f"{target}: per turn"))
                assert table.count() == 1
                assert table.locator("tbody tr").count() == 6  # 4 turns, turns >= 2, all turns
                assert table.locator("tbody tr").first.locator("td").first.inner_text() == "turn 1"
            images = page.locator("img[data-plot]")
            plots = json.loads(result.summary_json.read_text())["plots"]
            assert images.count() == sum(1 for plot in plots.values() if plot["file"]) >= 2
            widths = images.evaluate_all("imgs => imgs.map(img => img.complete ? img.naturalWidth : 0)")
            assert all(width > 0 for width in widths), widths
            assert page.locator("h2", has_text="Comparison: sglang vs vllm").count() == 1
        finally:
            browser.close()
    assert all(url.startswith(("file:", "data:")) for url in requested), requested
