"""`turnbench cost RUN_DIR... --traffic 1000/h` (analysis/cost_cli.py), on synthetic run directories."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from analysis.cost_cli import add_cost_parser, run_cost
from analysis.errors import AnalysisError
from analysis.figures.capacity.estimate import capacity_from_runs
from analysis.figures.prices import Price
from analysis.reading.load import load_run
from harness.slo import Slo
from tests.analysis.figures.capacity.test_levels import RAMP, locust_only_copy
from tests.analysis.rundirs import Spec, arrivals, write_run
from tests.analysis.test_cli import imported_after
from turnbench.cli import main

SLO = ("--slo", "ttft_p95_ms=2000")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="turnbench")
    add_cost_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["cost", *argv])


def cost(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert run_cost(parse(*argv)) == 0
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def searches(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Level runs of two targets: vllm holds 600/h and fails 1,200/h; sglang holds 1,200/h."""
    root = tmp_path_factory.mktemp("levels")
    specs = [
        arrivals(600, 300, ttft_ms=400.0, seed=1),
        arrivals(1200, 300, ttft_ms=3000.0, seed=2),
        arrivals(600, 300, target="sglang", engine="sglang", ttft_ms=300.0, seed=3),
        arrivals(1200, 300, target="sglang", engine="sglang", ttft_ms=500.0, seed=4),
    ]
    return [str(write_run(root, spec)) for spec in specs]


def test_each_target_gets_a_block_and_the_answer_says_which_is_cheaper(
    searches: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = cost(capsys, *searches, "--traffic", "2000/h", "--headroom", "0.2", *SLO)
    assert out.startswith("SLO: TTFT <= 2000 ms\ntraffic: 2,000 conversations/hour, 20% headroom\n")
    vllm, sglang = out.split("\n\nvllm ")[1].split("\n\nsglang ")
    assert vllm.startswith("(2 levels from 2 runs, 1 held the SLO)")
    assert "capacity: 600 conversations/hour per replica" in vllm and "first failed at 1,200" in vllm
    assert "for 2,000 conversations/hour: 4 pods, $31.92/hour, $23,301.60/month, $0.0160/conversation" in vllm
    assert "capacity: 1,200 conversations/hour per replica" in sglang and "no level above failed" in sglang
    assert "for 2,000 conversations/hour: 2 pods, $15.96/hour, $11,650.80/month" in sglang
    assert "levels as given; 10.0 pod-minutes" in vllm
    assert out.rstrip().endswith(
        "Answer: sglang needs fewer replicas (2 vs 4) and costs less per month ($11,650.80 vs $23,301.60) "
        "for 2,000 conversations/hour within the SLO."
    )


def test_a_price_override_can_make_the_other_target_cheaper(
    searches: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = cost(capsys, *searches, "--traffic", "2000/h", *SLO, "--price", "vllm=2", "sglang=7.98")
    assert out.rstrip().splitlines()[-1] == (
        "Answer: sglang needs fewer replicas (2 vs 4), and vllm costs less per month ($5,840.00 vs $11,650.80) "
        "for 2,000 conversations/hour within the SLO."
    )


def test_serverless_prints_workers_and_their_busy_share(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path, arrivals(600, 300, billing={"kind": "serverless", "usd_per_gpu_second": 0.001}))
    out = cost(capsys, str(run), "--traffic", "1000/h", *SLO)
    assert re.search(r"2 serverless workers \(each alive \d+% of the time\), \$\d+\.\d\d/hour", out)
    assert "serverless, $0.00100 per GPU-second x 2 GPUs (run.json)" in out


def test_a_ramp_and_its_locust_csvs_alone_give_the_same_replicas_and_cost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = write_run(tmp_path / "runs", RAMP)
    csv_only = locust_only_copy(run_dir, tmp_path / "vllm")  # the folder's name is the target's name
    outputs = [
        cost(capsys, str(path), "--traffic", "1000/h", "--headroom", "0.2", *SLO, "--price", "vllm=7.98")
        for path in (run_dir, csv_only)
    ]
    sized = [next(line for line in out.splitlines() if "for 1,000 conversations/hour:" in line) for out in outputs]
    assert sized[0].startswith("  for 1,000 conversations/hour: 2 pods, $15.96/hour, $11,650.80/month")
    assert sized[0] == sized[1]
    assert [out.splitlines()[-1] for out in outputs] == [outputs[0].splitlines()[-1]] * 2
    slo, price = Slo(ttft_p95_ms=2000.0), Price("pod", 7.98, 2, "test")
    capacities = [capacity_from_runs([load_run(path)], slo, price, 5.0) for path in (run_dir, csv_only)]
    held = [c.held_level for c in capacities if c is not None]
    assert [level.users for level in held if level is not None] == [16, 16]


def test_bad_options_are_one_line_errors(searches: list[str], tmp_path: Path) -> None:
    cases = [
        (["--traffic", "1000/h", "--price", "tgi=2"], "--price: no run has target 'tgi'; the targets are sglang, vllm"),
        (["--traffic", "lots"], "--traffic: expected conversations per hour like 1000/h"),
        (["--traffic", "1000/h", "--headroom", "-0.1"], "--headroom: expected a number >= 0, got -0.1"),
        (["--traffic", "1000/h", "--slo", "ttft_p50_ms=100"], "--slo: unknown key 'ttft_p50_ms'"),
        (["--traffic", "1000/h", "--turns", "0"], "--turns: expected turns per conversation above 0, got 0.0"),
    ]
    for extra, message in cases:
        with pytest.raises(AnalysisError) as caught:
            run_cost(parse(*searches, *extra))
        assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_a_run_with_no_level_says_what_is_missing(tmp_path: Path) -> None:
    closed = write_run(tmp_path / "closed", Spec(conversations=20))
    (closed / "locust_stats_history.csv").unlink()
    with pytest.raises(AnalysisError, match=r"closed/.*: no load level to judge: it is not an arrival-mode run"):
        run_cost(parse(str(closed), "--traffic", "1000/h"))
    plain = locust_only_copy(write_run(tmp_path / "plain", Spec(conversations=20)), tmp_path / "plain-csv")
    with pytest.raises(AnalysisError, match=r"has no rows for the 'turn 01' entries.*--csv-full-history"):
        run_cost(parse(str(plain), "--traffic", "1000/h"))


def test_turnbench_cost_is_a_subcommand_with_one_line_errors(
    searches: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cost", *searches[:2], "--traffic", "1000/h", *SLO]) == 0
    assert "Answer: vllm needs 2 replicas" in capsys.readouterr().out
    assert main(["cost", searches[0], "--traffic", "soon"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("turnbench cost: --traffic: expected conversations per hour") and err.count("\n") == 1


def test_the_cost_cli_module_stays_light() -> None:
    assert not {"pandas", "numpy", "matplotlib"} & imported_after("import analysis.cost_cli")
