"""Scrape the engine's Prometheus endpoint during a run into `server_metrics.csv`, in a process of its own.

Engines name things differently (notes/engines-and-runpod.md 6); each scraped row keeps the
engine's own name and gains a `common` name where one exists (each engine's `metric_names` in
deploy.engines), so the analysis reads one vocabulary. vLLM exposes prefix-cache hits and queries
as counters: the hit rate between two scrapes is derived and written as its own row. A missing
endpoint is a warning, not a failure.

A real vLLM `/metrics` page has thousands of lines; parsing it on the users' event loop every few
seconds would stall every turn in flight (and, in a thread, hold the GIL they need). So the
scraper runs as a child process (`python -m harness.recording.metrics_scraper`), started and
stopped with the run; it scrapes once more when stopped, so counters cover the whole run, and
ends by itself if the process that started it dies.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

from prometheus_client.parser import text_string_to_metric_families

from deploy.engines import ENGINES, VLLM
from harness.recording.run_dir import SERVER_METRIC_COLUMNS, SERVER_METRICS_CSV

log = logging.getLogger(__name__)

# Every engine's Prometheus name -> common name, for one lookup per sample whatever the engine.
COMMON_NAMES = {name: common for engine in ENGINES.values() for name, common in engine.metric_names.items()}
VLLM_QUERIES = VLLM.prefix_cache_queries
VLLM_HITS = VLLM.metrics_named("cached_tokens_total")
# Engine metrics only; process and Python metrics are noise here.
KEEP_PREFIXES = tuple(engine.metric_prefix for engine in ENGINES.values() if engine.metric_prefix)


STOP_WAIT_S = 10.0  # the final scrape's own timeout is 5 s


class MetricsScraper:
    """The run's handle on its scraper process."""

    def __init__(self, url: str, run_dir: Path, interval_s: float) -> None:
        self.url, self.path, self.interval_s = url, run_dir / SERVER_METRICS_CSV, interval_s
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", __name__, self.url, str(self.path), str(self.interval_s)]
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


class Scrape:
    """The scraping itself, in the child process: plain blocking code, no event loop to disturb."""

    def __init__(self, url: str, path: Path) -> None:
        self.url = url
        self._file = path.open("w", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow(SERVER_METRIC_COLUMNS)
        self._warned = False
        self._previous: tuple[float, float] | None = None  # vLLM (hits, queries) at the last scrape

    def scrape_once(self) -> None:
        if self._file.closed:
            return
        try:
            with urllib.request.urlopen(self.url, timeout=5) as response:
                text = response.read().decode("utf-8", "replace")
        except Exception as exc:
            if not self._warned:
                log.warning("no engine metrics from %s (%s): server_metrics.csv will lack them", self.url, exc)
                self._warned = True
            return
        now = round(time.time(), 3)
        sums: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if not sample.name.startswith(KEEP_PREFIXES) or sample.name.endswith(("_created", "_bucket")):
                    continue
                common = COMMON_NAMES.get(sample.name, "")
                labels = json.dumps(sample.labels, sort_keys=True)
                self._csv.writerow([now, sample.name, labels, sample.value, common])
                sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
        self._derive_vllm_hit_rate(now, sums)
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def _derive_vllm_hit_rate(self, now: float, sums: dict[str, float]) -> None:
        hits = next((sums[n] for n in VLLM_HITS if n in sums), None)
        queries = next((sums[n] for n in VLLM_QUERIES if n in sums), None)
        if hits is None or queries is None:
            return
        if self._previous is not None and queries > self._previous[1]:
            rate = (hits - self._previous[0]) / (queries - self._previous[1])
            self._csv.writerow([now, "turnbench:vllm_prefix_cache_hit_rate", "{}", round(rate, 6), "cache_hit_rate"])
        self._previous = (hits, queries)


def _scrape_until_stopped(url: str, path: Path, interval_s: float) -> None:
    scrape = Scrape(url, path)
    parent = os.getppid()
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the run, which stops us in order
    while not stopping and os.getppid() == parent:
        scrape.scrape_once()
        deadline = time.monotonic() + interval_s
        while not stopping and time.monotonic() < deadline and os.getppid() == parent:
            time.sleep(min(0.1, interval_s))
    scrape.scrape_once()  # the final state, so counters cover the whole run
    scrape.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    parser = argparse.ArgumentParser(description="scrape an engine's Prometheus endpoint into server_metrics.csv")
    parser.add_argument("url")
    parser.add_argument("path", type=Path)
    parser.add_argument("interval_s", type=float)
    arguments = parser.parse_args()
    _scrape_until_stopped(arguments.url, arguments.path, arguments.interval_s)
