"""One place per engine, read by everyone: the emulator serves what each Engine names, and the client,
the scraper, compare and deploy's readiness check find it there (a real emulator on 127.0.0.1)."""

from __future__ import annotations

import csv
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.emulator.process import running_emulator
from deploy.engines import ENGINES, LAUNCHABLE, OPENAI, Engine, engine_named
from deploy.runpod.readiness import read_version
from deploy.targets import Target
from harness.client.chat_client import ChatClient
from harness.client.dialect import read_chunk
from harness.client.request import ChatRequest, user_message
from harness.client.server import engine_of, model_cards, server_info
from harness.recording.metrics_scraper import MetricsScraper
from harness.recording.run_dir import SERVER_METRICS_CSV
from turnbench.compare import flush

MODEL = "emulated"


@pytest.fixture(scope="module", params=LAUNCHABLE)
def emulated(request: pytest.FixtureRequest) -> Iterator[tuple[Engine, str]]:
    """(the Engine, the base URL of its emulator on the fast profile), once per engine."""
    with running_emulator(request.param, "--profile", "fast", "--model", MODEL) as url:
        yield engine_named(request.param), url


def fresh_question() -> str:
    """Words no earlier prompt began with, so no cache holds any block of it."""
    return " ".join(uuid.uuid4().hex for _ in range(8))


def test_a_turn_with_nothing_cached_reports_it_as_the_engine_does(emulated: tuple[Engine, str]) -> None:
    engine, url = emulated
    result = ChatClient.standalone(url).send(ChatRequest(MODEL, [user_message(fresh_question())], 2))
    assert result.ok, result.error
    # requests.csv shows SGLang's null as "not reported", vLLM's 0 as zero.
    assert result.cached_tokens == (None if engine.nothing_cached_is_null else 0)


def test_the_client_recognises_the_engine_and_reads_its_version(emulated: tuple[Engine, str]) -> None:
    engine, url = emulated
    assert engine_of(model_cards(url)) == engine.name
    info = server_info(url)  # no hint: found by owned_by, then asked at the engine's version path
    assert info["engine"] == engine.name and info["emulator"] is True
    assert "turnbench emulator" in info["version"]
    assert read_version(engine.name, url, None) == info["version"]  # deploy's readiness asks the same path


def test_compare_flushes_the_engine_at_its_flush_path(emulated: tuple[Engine, str]) -> None:
    engine, url = emulated
    ChatClient.standalone(url).send(ChatRequest(MODEL, [user_message(fresh_question())], 2))
    assert flush(Target(f"{engine.name}-emulated", engine.name, url, MODEL)) is True
    with urllib.request.urlopen(f"{url}/emulator/stats", timeout=10) as response:
        assert json.load(response)["cache_tokens"] == 0


def test_the_scraper_maps_what_the_emulator_exposes(emulated: tuple[Engine, str], tmp_path: Path) -> None:
    engine, url = emulated
    scraper = MetricsScraper(f"{url}/metrics", tmp_path, interval_s=60)
    scraper.start()  # a process of its own: scrapes at once, then every 60 s
    path, deadline = tmp_path / SERVER_METRICS_CSV, time.monotonic() + 30
    while not (path.exists() and len(path.read_text().splitlines()) > 1) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the first scrape is in the file
    ChatClient.standalone(url).send(ChatRequest(MODEL, [user_message(fresh_question())], 2))
    scraper.stop()  # scrapes once more: vLLM's hit rate needs two scrapes around some traffic
    with (tmp_path / SERVER_METRICS_CSV).open() as file:
        rows = list(csv.DictReader(file))
    names = {row["name"] for row in rows}
    assert {engine.metric(common) for common in engine.metric_names.values()} <= names
    assert set(engine.prefix_cache_queries[:1]) <= names
    commons = {row["common"] for row in rows}
    assert {"running", "waiting", "kv_usage", "cached_tokens_total", "prompt_tokens_total"} <= commons
    assert "cache_hit_rate" in commons  # SGLang's own gauge, or derived from vLLM's counters


@pytest.mark.parametrize("engine", [e for e in ENGINES.values() if e.reasoning_field], ids=lambda e: e.name)
def test_the_client_reads_reasoning_in_each_engines_field(engine: Engine) -> None:
    chunk = {"choices": [{"index": 0, "delta": {engine.reasoning_field: "because"}, "finish_reason": None}]}
    assert read_chunk(json.dumps(chunk).encode()).reasoning == "because"


def test_flushes_carry_the_engines_key_as_bearer_and_nothing_without_one() -> None:
    for name in LAUNCHABLE:
        assert engine_named(name).flush_headers("sk-test") == {"Authorization": "Bearer sk-test"}
        assert engine_named(name).flush_headers(None) == {}
    # SGLang 0.5.23 opens /flush_cache with the admin key alone when the server has one.
    assert engine_named("sglang").flush_headers("sk-test", "adm") == {"Authorization": "Bearer adm"}
    assert engine_named("vllm").flush_headers("sk-test", "adm") == {"Authorization": "Bearer sk-test"}
    assert OPENAI.flush_path is None and flush(Target("other", "openai", "http://127.0.0.1:9")) is None


def test_an_unknown_engine_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown engine 'tgi'; choose one of vllm, sglang, openai"):
        engine_named("tgi")
