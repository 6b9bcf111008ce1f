"""`run.json`: what ran, against what, and whether its numbers can be trusted.

Written when a test starts (status "interrupted", so a crash leaves an honest file) and rewritten
when it ends, and again if rows arrive later (the end time stays the test's stop). Secrets never
enter it: the target carries the *name* of its key variable only, and the server's account of
itself is redacted (harness.client.server).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from harness.recording.lag_probe import LagHistogram
from harness.recording.run_dir import (
    RUN_JSON,
    CacheSaltInfo,
    LagWindow,
    LoadGeneratorHealth,
    LoadInfo,
    RunInfo,
    RunStatus,
    TargetInfo,
)
from harness.version import TURNBENCH_VERSION


class RunRecorder:
    def __init__(
        self,
        run_dir: Path,
        target: TargetInfo,
        scenario: dict[str, Any],
        locust_options: dict[str, Any],
        server: dict[str, Any],
        lag_limit_ms: float,
        load: LoadInfo | None = None,
        cache_salt: CacheSaltInfo | None = None,
    ) -> None:
        self.path = run_dir / RUN_JSON
        self.lag_limit_ms = lag_limit_ms
        self.info: RunInfo = {
            "turnbench_version": TURNBENCH_VERSION,
            "run_id": run_dir.name,
            "scenario": scenario,
            "target": target,
            "locust": locust_options,
            "server": server,
            "started_at": time.time(),
            "ended_at": None,
            "status": "interrupted",
            "load_generator": None,
        }
        if load is not None:  # the plugin always says; library use may not
            self.info["load"] = load
        if cache_salt is not None:
            self.info["cache_salt"] = cache_salt
        self.write()

    def finish(
        self, status: RunStatus, lag: LagHistogram, workers: int, windows: list[LagWindow] | None = None, **extra: Any
    ) -> None:
        """`windows` judge the timings (harness.recording.lag_windows); without them, the lag p99 does."""
        health: LoadGeneratorHealth = {
            "lag_p50_ms": lag.percentile(0.5),
            "lag_p99_ms": lag.percentile(0.99),
            "lag_max_ms": round(lag.max_ms, 3),
            "cpu_percent_max": lag.cpu_percent_max,
            "workers": workers,
            "saturated": lag.percentile(0.99) > self.lag_limit_ms,
        }
        if windows is not None:
            health["saturated"] = not all(window["trusted"] for window in windows)
            health["flagged_turns"] = sum(window["flagged_turns"] for window in windows)
            health["windows"] = windows
        # The moment the test stopped: a later finish (rows that came after, the quit, the next test
        # of a web-UI session) brings the counts up to date but never moves the end.
        if self.info["ended_at"] is None:
            self.info["ended_at"] = time.time()
        self.info["status"] = status
        self.info["load_generator"] = health
        self.info.update(extra)  # type: ignore[typeddict-item]
        self.write()

    def write(self) -> None:
        temporary = self.path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(self.info, indent=2, default=str) + "\n")
        os.replace(temporary, self.path)  # never a half-written run.json
