"""The one cached-token rule (harness/recording/cached_rule.py): SGLang's null for "nothing cached"
counts as 0 everywhere, so both engines on the same traffic report the same cached share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analysis.figures.turns import ALL_TURNS, figures, turn_groups
from analysis.reading.load import load_run
from deploy.emulator.process import running_emulator
from harness.client.server import server_info
from harness.recording.cached_rule import UNKNOWN, CachedRule
from harness.recording.run_dir import REQUEST_COLUMNS, REQUESTS_CSV
from harness.recording.turn_rows import RecordWriter
from harness.recording.turn_summary import read_turn_rows, summarise
from tests.analysis.rundirs import Spec, run_info
from tests.harness.run.commands import rows, turnbench

PARITY_POINTS = 0.005  # the same traffic, the same share: half a percentage point


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run per emulated engine on identical traffic (scenario, seed, exact answer lengths), then the report."""
    out = tmp_path_factory.mktemp("parity")
    for engine in ("vllm", "sglang"):
        with running_emulator(engine, "--profile", "fast", "--model", "emulated", "--seed", "1") as url:
            result = turnbench(
                "run", "--host", url, "--scenario", "coding", "-u", "8", "-r", "8", "-t", "12s",
                "--think-time-scale", "0.1", "--target-name", engine, "--out", str(out),
                "--", "--max-tokens", "40", "--min-tokens", "40",
            )  # fmt: skip
            assert result.returncode in (0, 4), result.stdout + result.stderr[-2000:]  # 4: lagged on a busy machine
    dirs = sorted(p for p in out.iterdir() if p.is_dir())
    report = turnbench("report", *map(str, dirs), "--out", str(out / "report"))
    assert report.returncode == 0, report.stderr[-2000:]
    return out


def test_both_engines_report_the_same_cached_share_in_the_index_and_the_report(both_engines: Path) -> None:
    index = {row["target"]: float(row["cached_share"]) for row in rows(both_engines / "index.csv")}
    summary = json.loads((both_engines / "report" / "summary.json").read_text())
    report = {
        label: next(row["cached_share"] for row in target["per_turn"] if row["group"] == ALL_TURNS)
        for label, target in summary["targets"].items()
    }
    assert index["sglang"] == pytest.approx(index["vllm"], abs=PARITY_POINTS), index
    assert report["sglang"] == pytest.approx(report["vllm"], abs=PARITY_POINTS), report
    for engine in ("vllm", "sglang"):  # one number, whoever reads the run
        assert report[engine] == pytest.approx(index[engine], abs=1e-4), (engine, report, index)
    assert 0.5 < index["vllm"] < 1.0  # a real share, neither nothing nor everything


def test_sglang_s_null_is_recorded_as_zero_once_the_server_says_it_reports(both_engines: Path) -> None:
    (run_dir,) = [p for p in both_engines.iterdir() if p.is_dir() and "sglang" in p.name]
    turns = [row for row in rows(run_dir / REQUESTS_CSV) if row["ok"] == "True"]
    assert turns and all(row["cached_tokens"] != "" for row in turns)
    assert any(row["cached_tokens"] == "0" for row in turns)  # the first conversation of a user: a cold cache
    details = json.loads((run_dir / "run.json").read_text())["server"]["details"]
    assert details["enable_cache_report"] is True  # the emulator says what SGLang's /get_server_info says


def test_the_rule_reads_the_server_s_flags() -> None:
    with running_emulator("sglang", "--profile", "fast", "--model", "emulated") as url:
        assert CachedRule.for_server(server_info(url)) == CachedRule(nothing_cached_is_null=True, reporting=True)
    with running_emulator("vllm", "--profile", "fast", "--model", "emulated") as url:
        # vLLM sends {"cached_tokens": 0} itself, and its /version does not list flags.
        assert CachedRule.for_server(server_info(url)) == CachedRule(nothing_cached_is_null=False, reporting=None)
    off = {"engine": "sglang", "details": {"server_args": {"enable_cache_report": False}}}  # nested, as routers show it
    assert CachedRule.for_server(off).reporting is False
    assert CachedRule.for_server({"engine": "openai"}) == UNKNOWN


def row(turn: int, ok: bool = True, prompt: int | str = 1000, cached: int | str = "") -> list[Any]:
    values = {"conversation_id": "c", "turn": turn, "ok": ok, "prompt_tokens": prompt, "cached_tokens": cached,
              "started_at": 1.0, "e2e_ms": 100.0, "branch_kind": "", "lagged": False}  # fmt: skip
    return [values.get(column, "") for column in REQUEST_COLUMNS]


def test_without_flags_the_run_teaches_the_rule_and_every_reader_agrees(tmp_path: Path) -> None:
    # An SGLang whose flags could not be read: the rule learns from the first cached figure; the
    # rows before it stay empty, and every reader counts them as 0 all the same.
    writer = RecordWriter(tmp_path, CachedRule(nothing_cached_is_null=True, reporting=None))
    writer.receive({"requests": [row(1), row(1, ok=False, prompt="")]})
    writer.receive({"requests": [row(2, cached=900), row(1)]})
    writer.close()
    written = read_turn_rows(tmp_path / REQUESTS_CSV)
    assert [r["cached_tokens"] for r in written] == ["", "", "900", "0"]  # a failed turn stays "not reported"
    summary = summarise(written)
    requests = load_run_requests(tmp_path)
    analysis = figures(next(g for g in turn_groups(requests) if g.label == ALL_TURNS))
    ui = writer.turns
    ui_share = sum(t.cached_tokens for t in ui.values()) / sum(t.prompt_tokens for t in ui.values())
    assert summary.cached_share == analysis.cached_share == pytest.approx(ui_share) == pytest.approx(900 / 3000)


def test_a_server_that_never_reports_has_no_share_rather_than_zero(tmp_path: Path) -> None:
    writer = RecordWriter(tmp_path, UNKNOWN)
    writer.receive({"requests": [row(1), row(2)]})
    writer.close()
    assert summarise(read_turn_rows(tmp_path / REQUESTS_CSV)).cached_share is None
    analysis = figures(next(g for g in turn_groups(load_run_requests(tmp_path)) if g.label == ALL_TURNS))
    assert analysis.cached_share != analysis.cached_share  # NaN: "not reported"


def load_run_requests(run_dir: Path) -> Any:
    """requests.csv as the analysis reads it, beside the run.json a run directory needs."""
    (run_dir / "run.json").write_text(json.dumps(run_info(Spec(engine="sglang", target="sglang"))))
    loaded = load_run(run_dir)
    assert loaded.requests is not None
    return loaded.requests
