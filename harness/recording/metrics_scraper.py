"""Scrape the engine's Prometheus endpoint during a run into `server_metrics.csv`.

Engines name things differently (notes/engines-and-runpod.md 6); each scraped row keeps the
engine's own name and gains a `common` name where one exists (each engine's `metric_names` in
deploy.engines), so the analysis reads one vocabulary. vLLM exposes prefix-cache hits and queries
as counters: the hit rate between two scrapes is derived and written as its own row. A missing
endpoint is a warning, not a failure.
"""

from __future__ import annotations

import csv
import json
import logging
import time
import urllib.request
from pathlib import Path

import gevent
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


class MetricsScraper:
    def __init__(self, url: str, run_dir: Path, interval_s: float) -> None:
        self.url = url
        self.interval_s = interval_s
        self._file = (run_dir / SERVER_METRICS_CSV).open("w", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow(SERVER_METRIC_COLUMNS)
        self._greenlet: gevent.Greenlet | None = None
        self._warned = False
        self._previous: tuple[float, float] | None = None  # vLLM (hits, queries) at the last scrape
        self.scrapes = 0

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=5)
            self._greenlet = None
        self.scrape_once()  # the final state, so counters cover the whole run
        self._file.close()

    def _run(self) -> None:
        while True:
            self.scrape_once()
            gevent.sleep(self.interval_s)

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
        self.scrapes += 1

    def _derive_vllm_hit_rate(self, now: float, sums: dict[str, float]) -> None:
        hits = next((sums[n] for n in VLLM_HITS if n in sums), None)
        queries = next((sums[n] for n in VLLM_QUERIES if n in sums), None)
        if hits is None or queries is None:
            return
        if self._previous is not None and queries > self._previous[1]:
            rate = (hits - self._previous[0]) / (queries - self._previous[1])
            self._csv.writerow([now, "turnbench:vllm_prefix_cache_hit_rate", "{}", round(rate, 6), "cache_hit_rate"])
        self._previous = (hits, queries)
