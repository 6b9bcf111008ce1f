"""`turnbench run`: one headless Locust run against one target, into one run directory.

It checks what a user can get wrong before any load starts (the scenario file, the host, the
model name) and answers each in one line; then it runs Locust in its own process (Locust owns the
gevent patching and, with --processes or --workers, its worker processes) with the run directory,
CSV prefix and turnbench options filled in. Locust's exit code is the run's exit code.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import locustfiles
from harness.run_dir import LOCUST_PREFIX, REQUESTS_CSV, new_run_dir

LOCUSTFILE = Path(locustfiles.__file__).with_name("any_scenario.py")


class RunError(Exception):
    """A reason the run cannot start; one line for the user."""


@dataclass(frozen=True)
class Preflight:
    models: list[str]
    engine: str


def preflight(host: str, model: str, api_key_env: str | None) -> Preflight:
    """The host answers and serves the model, or a one-line reason why not."""
    import os

    headers = {}
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise RunError(f"environment variable {api_key_env} is not set (it should hold the API key)")
        headers["Authorization"] = f"Bearer {key}"
    url = f"{host.rstrip('/')}/v1/models"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        raise RunError(f"{url} answered HTTP {exc.code}: is this an OpenAI-compatible server?") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RunError(f"cannot reach {host} ({reason}): is the server running?") from exc
    except ValueError as exc:
        raise RunError(f"{url} did not answer with JSON: is this an OpenAI-compatible server?") from exc
    cards = body.get("data") or []
    models = [str(card.get("id")) for card in cards]
    if model and models and model not in models:
        raise RunError(f"{host} does not serve model {model!r} (it serves: {', '.join(models)})")
    owned = {str(card.get("owned_by")) for card in cards}
    return Preflight(models, "vllm" if "vllm" in owned else "sglang" if "sglang" in owned else "")


def add_run_parser(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser(
        "run",
        help="one headless multi-turn load test against one target, into a run directory",
        description="Run Locust users holding multi-turn conversations against one OpenAI-compatible server.",
    )
    run.add_argument("--host", required=True, help="server root, e.g. http://127.0.0.1:8000")
    run.add_argument(
        "--scenario", default="support", help="support, coding, shared-context, a .toml file, or sharegpt:FILE"
    )
    run.add_argument("-u", "--users", type=int, default=10)
    run.add_argument("-r", "--spawn-rate", type=float, default=5.0)
    run.add_argument("-t", "--run-time", default="60s", help="e.g. 60s, 5m")
    run.add_argument("--processes", type=int, default=0, help="Locust worker processes forked on this machine")
    run.add_argument("--workers", type=int, default=0, help="run a master and this many worker processes")
    run.add_argument("--out", default="runs", help="folder for the run directory")
    run.add_argument("--target-name", default="", help="a name for the target (default: the engine)")
    run.add_argument("--model", default="", help="model name; default: the server's first")
    run.add_argument("--tokenizer", default="", help="Hugging Face name or local folder, for exact token sizes")
    run.add_argument("--engine", default="", help="vllm, sglang or openai; default: asked from the server")
    run.add_argument("--api-key-env", default="", help="NAME of the environment variable holding the API key")
    run.add_argument("--price-usd-per-hour", type=float, default=0.0)
    run.add_argument("--think-time-scale", type=float, default=1.0, help="multiply the scenario's think times")
    run.add_argument("--max-failure-rate", type=float, default=0.05, help="exit 1 above this share of failed turns")
    run.add_argument("--stop-timeout", type=float, default=120.0, help="seconds a stopping user may finish its turn")
    run.add_argument("--shape", default="", help="a load shape class from locustfiles/shapes.py, e.g. StepRamp")
    run.add_argument("locust_args", nargs=argparse.REMAINDER, help="after --: passed to Locust as they are")


def validate_scenario(name: str, tokenizer: str) -> None:
    from harness.scenario import ScenarioError, load_scenario
    from harness.tokenizer import load_tokenizer

    try:
        load_scenario(name, load_tokenizer(tokenizer or None))
    except ScenarioError as exc:
        raise RunError(str(exc)) from exc


def locust_command(args: argparse.Namespace, run_dir: Path, engine: str) -> list[str]:
    files = str(LOCUSTFILE)
    if args.shape:
        files += "," + str(LOCUSTFILE.with_name("shapes.py"))
    command = [
        sys.executable, "-m", "locust", "-f", files, "--headless", "--host", args.host,
        "--csv", str(run_dir / LOCUST_PREFIX), "--csv-full-history", "--only-summary",
        "--stop-timeout", f"{args.stop_timeout:g}",
        "--scenario", args.scenario, "--turnbench-run-dir", str(run_dir),
        "--think-time-scale", f"{args.think_time_scale:g}", "--max-failure-rate", f"{args.max_failure_rate:g}",
        "--price-usd-per-hour", f"{args.price_usd_per_hour:g}", "--loglevel", "WARNING",
    ]  # fmt: skip
    if not args.shape:
        seconds = parse_timespan(args.run_time)
        command += ["-u", str(args.users), "-r", f"{args.spawn_rate:g}", "--turnbench-run-time", str(seconds)]
    for option, value in (("--target-name", args.target_name or engine or "target"), ("--model", args.model),
                          ("--tokenizer", args.tokenizer), ("--engine", args.engine or engine),
                          ("--api-key-env", args.api_key_env)):  # fmt: skip
        if value:
            command += [option, value]
    if args.processes:
        command += ["--processes", str(args.processes)]
    extra = [a for a in args.locust_args if a != "--"]
    return command + extra


def parse_timespan(text: str) -> int:
    # Imported here: importing locust monkey-patches the process with gevent, which the
    # command line must not do before it knows the subcommand (the emulator runs asyncio).
    from locust.util.timespan import parse_timespan as parse

    return int(parse(text))


def run(args: argparse.Namespace) -> int:
    try:
        parse_timespan(args.run_time)
    except ValueError as exc:
        raise RunError(f"-t {args.run_time!r}: use a duration like 60s, 5m or 1h30m") from exc
    validate_scenario(args.scenario, args.tokenizer)
    checked = preflight(args.host, args.model, args.api_key_env or None)
    target = args.target_name or checked.engine or "target"
    scenario = Path(args.scenario).stem if args.scenario.endswith((".toml", ".json")) else args.scenario
    run_dir = new_run_dir(Path(args.out), target, scenario.replace("sharegpt:", "sharegpt-"))
    command = locust_command(args, run_dir, checked.engine)
    code = _run_distributed(command, args.workers) if args.workers else subprocess.call(command)
    rows = sum(1 for _ in (run_dir / REQUESTS_CSV).open()) - 1 if (run_dir / REQUESTS_CSV).exists() else 0
    print(f"turnbench run: {rows} turns recorded in {run_dir} (exit code {code})")
    return code


def _run_distributed(command: list[str], workers: int) -> int:
    """A master and `workers` worker processes on this machine, talking over 127.0.0.1."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    master = subprocess.Popen(
        [*command, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
         "--expect-workers", str(workers), "--expect-workers-max-wait", "60"]
    )  # fmt: skip
    files = command[command.index("-f") + 1]
    worker_command = [sys.executable, "-m", "locust", "-f", files, "--worker", "--master-host", "127.0.0.1",
                      "--master-port", str(port), "--loglevel", "WARNING"]  # fmt: skip
    time.sleep(0.5)
    worker_processes = [subprocess.Popen(worker_command) for _ in range(workers)]
    try:
        return master.wait()
    finally:
        for process in worker_processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.terminate()
