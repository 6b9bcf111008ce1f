"""The Locust web UI with turnbench's users: start a test from the form, watch the Turns tab fill."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from deploy.emulator.process import running_emulator

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]  # fmt: skip

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_run_started_from_the_form_fills_the_turns_tab(tmp_path: Path) -> None:
    port = free_port()
    with running_emulator("sglang", "--profile", "fast", "--model", "emulated") as url:
        locust = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "shared_context.py"), "--host", url,
             "--web-host", "127.0.0.1", "--web-port", str(port), "--think-time-scale", "0.1",
             "--turnbench-out", str(tmp_path)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            with playwright.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page()
                deadline = time.monotonic() + 30
                while True:
                    try:
                        page.goto(f"http://127.0.0.1:{port}/")
                        break
                    except playwright.Error:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.5)
                page.fill("input[name=userCount]", "6")
                page.fill("input[name=spawnRate]", "6")
                page.get_by_role("button", name="START").click()
                page.get_by_role("tab", name="Turns").click()
                page.get_by_role("cell", name="turn 02").wait_for(timeout=30_000)
                headers = page.locator("th").all_inner_texts()
                assert "TTFT p50 (ms)" in headers and "Cached prompt share" in headers
                # Stopping from the UI finishes the run directory, without quitting Locust, and
                # users stop between turns: every turn the server saw is a whole row.
                page.get_by_role("button", name="STOP").click()
                run_dir = next(iter(tmp_path.iterdir()))
                deadline = time.monotonic() + 30
                while json.loads((run_dir / "run.json").read_text())["status"] != "complete":
                    assert time.monotonic() < deadline, (run_dir / "run.json").read_text()
                    time.sleep(0.5)
                browser.close()
                with (run_dir / "requests.csv").open(newline="") as file:
                    rows = list(csv.DictReader(file))
                with urllib.request.urlopen(f"{url}/emulator/truth", timeout=10) as response:
                    assert len(rows) == len(json.load(response)) > 6
                assert [r["error_kind"] for r in rows if r["error_kind"]] == []
        finally:
            locust.send_signal(signal.SIGTERM)
            locust.wait(timeout=30)
