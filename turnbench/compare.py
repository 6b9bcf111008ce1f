"""`turnbench compare`: the same workload and seed against each target in turn, then one report.

This is the main job. With no targets file it starts both emulated engines locally, so a new user
sees the whole answer in minutes without a GPU. Before each run the target's prefix cache is
flushed, so no target starts warm from another's traffic; whether the flush worked is recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from deploy.engines import engine_named
from deploy.targets import Target, TargetsError, load_targets
from harness.slo import Slo, SloError

DEMO_PROFILE = "h100x2-70b"


class CompareError(Exception):
    pass


def add_compare_parser(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser(
        "compare",
        help="run the same workload against each target, then report which is faster and cheaper",
        description="The main job: the same scenario, load and seed against each target, cache flushed "
        "before each, then one report. With no --targets it starts both emulated engines locally.",
    )
    compare.add_argument("--targets", default="", help="targets.toml (default: two local emulated engines)")
    compare.add_argument("--scenario", default="shared-context")
    compare.add_argument("-u", "--users", type=int, default=8)
    compare.add_argument("-r", "--spawn-rate", type=float, default=4.0)
    compare.add_argument("-t", "--run-time", default="60s")
    compare.add_argument("--think-time-scale", type=float, default=0.5)
    compare.add_argument("--out", default="runs", help="where run directories and the report go")
    compare.add_argument("--profile", default=DEMO_PROFILE, help="emulator profile when no --targets is given")
    compare.add_argument("--slo", nargs="*", default=["ttft_p95_ms=2000", "e2e_p95_ms=30000"])


def flush(target: Target) -> bool | None:
    """Ask the engine to drop its prefix cache; None when the engine has no such endpoint."""
    engine = engine_named(target.engine)
    if engine.flush_path is None:
        return None
    import os

    headers = engine.flush_headers(os.environ.get(target.api_key_env) if target.api_key_env else None)
    try:
        url = f"{target.base_url}{engine.flush_path}"
        request = urllib.request.Request(url, data=b"", method="POST", headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            return bool(response.status == 200)
    except Exception:  # recorded as "not flushed"
        return False


@contextlib.contextmanager
def local_emulators(profile: str) -> Iterator[list[Target]]:
    """Both emulated engines, priced as the 2x H100 pod they emulate: the same billing (from deploy.pricing's
    dated table) as `deploy up --local` writes, so the demo's dollars match a local targets file's."""
    from deploy.emulator.process import running_emulator
    from deploy.local import EMULATOR_BILLING
    from deploy.pricing import H100_SXM

    with running_emulator("vllm", "--profile", profile) as vllm, running_emulator("sglang", "--profile", profile) as sg:
        yield [
            Target(
                f"{engine}-emulated",
                engine,
                url,
                "emulated",
                billing=dict(EMULATOR_BILLING),
                gpu_type=H100_SXM,
                gpu_count=2,
            )
            for engine, url in (("vllm", vllm), ("sglang", sg))
        ]


def run_target(target: Target, args: argparse.Namespace, out: Path) -> Path:
    flushed = flush(target)
    before = set(out.iterdir()) if out.exists() else set()
    command = [
        sys.executable, "-m", "turnbench", "run", "--host", target.base_url, "--scenario", args.scenario,
        "-u", str(args.users), "-r", f"{args.spawn_rate:g}", "-t", args.run_time, "--out", str(out),
        "--target-name", target.name, "--engine", target.engine,
        "--think-time-scale", f"{args.think_time_scale:g}", "--max-failure-rate", "1",
    ]  # fmt: skip
    if target.model:
        command += ["--model", target.model]
    if target.api_key_env:
        command += ["--api-key-env", target.api_key_env]
    if target.usd_per_hour:
        command += ["--price-usd-per-hour", f"{target.usd_per_hour:g}"]
    log_path = out / f"{target.name}.locust.log"
    print(f"turnbench compare: {target.name}: cache flushed: {flushed}; running {args.run_time} "
          f"(Locust's output: {log_path})", flush=True)  # fmt: skip
    with log_path.open("w") as log:
        code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT)
    created = sorted(p for p in set(out.iterdir()) - before if p.is_dir())
    if code not in (0, 1) or not created:
        raise CompareError(f"the run against {target.name} failed (exit code {code})")
    run_dir = created[-1]
    _record_target(run_dir, target, flushed)
    return run_dir


def _record_target(run_dir: Path, target: Target, flushed: bool | None) -> None:
    """Add what only the targets file knows (billing, GPUs, launch flags) and the flush to run.json."""
    path = run_dir / "run.json"
    info = json.loads(path.read_text())
    info["cache_flushed"] = flushed
    info["target"].update(gpu_type=target.gpu_type, gpu_count=target.gpu_count, launch=target.launch)
    if target.billing:
        info["target"]["billing"] = target.billing
    path.write_text(json.dumps(info, indent=2) + "\n")


def compare(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    slo = _parse_slo(args.slo)
    if args.targets:
        try:
            targets = load_targets(Path(args.targets))
        except TargetsError as exc:
            raise CompareError(str(exc)) from exc
        run_dirs = [run_target(t, args, out) for t in targets]
    else:
        with local_emulators(args.profile) as targets:
            run_dirs = [run_target(t, args, out) for t in targets]
    from analysis.errors import AnalysisError
    from analysis.report.build import build_report, default_out_dir

    try:
        result = build_report(run_dirs, default_out_dir(run_dirs), slo, None)
    except AnalysisError as exc:
        raise CompareError(str(exc)) from exc
    print(result.summary)
    return 0


def _parse_slo(items: list[str]) -> Slo:
    try:
        return Slo.parse(items)
    except SloError as exc:
        raise CompareError(str(exc)) from exc
