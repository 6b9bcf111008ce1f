"""Reconnects after long think times, recorded by `turnbench run` and shown by `turnbench report`.

vLLM and SGLang close a keep-alive connection idle for 5 s; the emulator does too, here after
KEEP_ALIVE_S so that the run stays short, with think times scaled to stay well above it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from deploy.emulator.process import running_emulator
from tests.harness.run.commands import ROOT, rows, turnbench

KEEP_ALIVE_S = 0.2
# The support scenario thinks at least 1 s before every turn, so at least 0.5 s here: the server's
# idle timer (it never fires early) has closed the connection 0.3 s before the next turn is sent.
THINK_SCALE = 0.5
OK_EXITS = (0, 4)  # 4: the load generator lagged on a busy machine; the records are whole either way


def run_command(host: str, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "turnbench", "run", "--host", host, "--scenario", "support", "-u", "4", "-r", "4",
        "-t", "12s", "--think-time-scale", str(THINK_SCALE), "--out", str(out),
    ]  # fmt: skip


def test_turns_after_a_think_longer_than_the_keep_alive_timeout_reconnect_and_the_report_says_so(
    tmp_path: Path,
) -> None:
    fast = ["--profile", "fast", "--model", "emulated"]
    closing_out, keeping_out = tmp_path / "closing", tmp_path / "keeping"
    with (
        running_emulator("vllm", *fast, "--keep-alive-timeout", str(KEEP_ALIVE_S)) as closing,
        running_emulator("vllm", *fast, "--keep-alive-timeout", "0") as keeping,
    ):
        # Both at once, to keep the test short; each run is light (4 users, the fast profile).
        runs = [
            subprocess.Popen(
                run_command(host, out),
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for host, out in ((closing, closing_out), (keeping, keeping_out))
        ]
        outputs = [run.communicate(timeout=180) for run in runs]
    for run, (stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode in OK_EXITS, stdout + stderr[-2000:]

    (run_dir,) = [p for p in closing_out.iterdir() if p.is_dir()]
    requests = rows(run_dir / "requests.csv")
    later = [r for r in requests if int(r["turn"]) >= 2]
    assert later and all(r["ok"] == "True" for r in requests), [r["error"] for r in requests if r["ok"] != "True"]
    # Every turn comes after a think longer than the timeout, so every one opened a connection and
    # paid for it inside TTFT.
    assert all(r["new_connection"] == "True" and r["connect_ms"] != "" for r in requests)
    assert all(float(r["connect_ms"]) <= float(r["ttft_ms"]) for r in requests)
    # The same run against a server that keeps idle connections: later turns reuse theirs.
    (kept_dir,) = [p for p in keeping_out.iterdir() if p.is_dir()]
    kept_later = [r for r in rows(kept_dir / "requests.csv") if int(r["turn"]) >= 2]
    assert kept_later and all(r["new_connection"] == "False" and r["connect_ms"] == "" for r in kept_later)

    report = turnbench("report", str(run_dir), timeout=120)
    assert report.returncode == 0, report.stdout + report.stderr[-2000:]
    assert "new connections on turns >= 2: " in report.stdout and "100.0%" in report.stdout, report.stdout
    markdown = (run_dir / "report.md").read_text()
    assert "new connections (ms)" in markdown and "TTFT p50 without connect" in markdown
    (target,) = json.loads((run_dir / "summary.json").read_text())["targets"].values()
    by_group = {c["group"]: c for c in target["connections"]}
    assert {"1", "turns >= 2", "all turns"} <= set(by_group) and by_group["all turns"]["n"] == len(requests)
    assert all(c["new_share"] == 1.0 for c in by_group.values())
    assert by_group["all turns"]["ttft_without_connect_p50_ms"] <= by_group["all turns"]["ttft_p50_ms"]
