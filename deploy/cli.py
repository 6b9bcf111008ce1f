"""`turnbench deploy up|down|status|serverless`: the deploy stage's command line.

`add_deploy_parser` plugs into `turnbench`'s subcommands; `run_deploy` raises `DeployError` for
anything the user can fix, which `turnbench` prints as one line. Progress goes to stderr, results
to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from deploy.errors import DeployError
from deploy.parity import (
    DEFAULT_MODEL,
    SGLANG_IMAGE,
    VLLM_IMAGE,
    EngineSettings,
    EngineSpec,
    check_parity,
    override,
    validate,
)
from deploy.pricing import H100_SXM, SERVERLESS_POOL
from deploy.runpod.workers import WORKER_IMAGES
from deploy.targets import Target

if TYPE_CHECKING:
    from deploy.runpod.pods import PodOptions
    from deploy.runpod.serverless import EndpointOptions

DEFAULT_TARGETS = "targets.toml"


def add_deploy_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    deploy = subparsers.add_parser(
        "deploy",
        help="bring vLLM and SGLang up (Runpod pods, Runpod serverless, or local emulators) and write targets.toml",
        description="Bring both engines up at parity and write targets.toml for `turnbench compare --targets`.",
    )
    _add_actions(deploy)
    return deploy


def _add_actions(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="deploy_command", metavar="ACTION", required=True)
    up = actions.add_parser(
        "up",
        help="one Runpod GPU pod per engine (or --local emulators), wait until they serve, write targets.toml",
        description="Create one pod per engine, wait for /health, write targets.toml. Any failure, Ctrl-C or "
        "SIGTERM/SIGHUP terminates every pod created so far. Needs RUNPOD_API_KEY and TURNBENCH_ENGINE_API_KEY.",
    )
    _targets_option(up)
    up.add_argument("--local", action="store_true", help="start both emulators on 127.0.0.1 instead of pods")
    up.add_argument("--profile", default="h100x2-70b", help="emulator profile for --local")
    up.add_argument(
        "--dry-run",
        action="store_true",
        help="print each engine's POST /v2/pods body (secrets as placeholders) and the parity check, create nothing",
    )
    up.add_argument("--force", action="store_true", help="deploy even if the engines' settings differ")
    _engine_settings(up, {"vllm": VLLM_IMAGE, "sglang": SGLANG_IMAGE}, "image")
    pods = up.add_argument_group("Runpod pods")
    pods.add_argument("--gpu-type", default=H100_SXM, help="Runpod GPU type id")
    pods.add_argument("--gpu-count", type=int, default=2)
    pods.add_argument("--cloud", default="SECURE", help="SECURE, COMMUNITY, or ALL: Secure, then Community")
    pods.add_argument("--data-center", default=None, help="Runpod data centre ids, comma-separated, tried in order")
    pods.add_argument("--volume-gb", type=int, default=200)
    pods.add_argument("--container-disk-gb", type=int, default=50)
    pods.add_argument("--volume-mount-path", default="/workspace")
    pods.add_argument("--cuda-versions", default="12.9,13.0", help="host CUDA versions the images accept")
    pods.add_argument("--max-lifetime", default=None, help="e.g. 4h: `status` flags and `down --expired` ends them")
    pods.add_argument("--timeout", default="40m", help="how long to wait for both engines to serve")
    pods.add_argument("--poll-interval", default="10s")
    pods.add_argument("--no-engine-api-key", action="store_true", help="start the engines without --api-key")
    # Tests point the readiness checks at 127.0.0.1; users never need it.
    pods.add_argument("--proxy-url-template", default=None, help=argparse.SUPPRESS)

    down = actions.add_parser(
        "down", help="terminate this deployment's pods, delete its serverless endpoints (or stop --local emulators)"
    )
    _targets_option(down)
    which = down.add_mutually_exclusive_group()
    which.add_argument(
        "--all",
        action="store_true",
        help="every turnbench- pod, serverless endpoint and template in the Runpod account",
    )
    which.add_argument("--expired", action="store_true", help="turnbench- pods past their --max-lifetime")
    which.add_argument("--local", action="store_true", help="the emulators `up --local` started")

    status = actions.add_parser("status", help="turnbench pods with uptime, cost so far and lifetime")
    _targets_option(status)

    serverless = actions.add_parser(
        "serverless",
        help="create a worker-vllm and a worker-sglang Runpod serverless endpoint (or use existing ones), write "
        "targets.toml",
        description="Create one Runpod serverless endpoint per engine (worker-vllm, worker-sglang) through REST v2, "
        "with the same engine settings as `up` as the workers' environment variables; record them and write "
        "targets.toml. `deploy down` deletes them; any failure, Ctrl-C or SIGTERM/SIGHUP deletes every endpoint "
        "created so far. With both --vllm-endpoint and --sglang-endpoint, write targets.toml for endpoints that "
        "already exist instead, and create nothing. Needs RUNPOD_API_KEY (HF_TOKEN optional).",
    )
    _targets_option(serverless)
    existing = serverless.add_argument_group("existing endpoints (give both to create nothing)")
    existing.add_argument("--vllm-endpoint", metavar="ID", help="id of an existing worker-vllm endpoint")
    existing.add_argument("--sglang-endpoint", metavar="ID", help="id of an existing worker-sglang endpoint")
    serverless.add_argument(
        "--dry-run",
        action="store_true",
        help="print each engine's POST /v2/serverless body (HF_TOKEN as a placeholder) and the parity check, "
        "create nothing",
    )
    serverless.add_argument("--force", action="store_true", help="create even if the engines' settings differ")
    _engine_settings(serverless, WORKER_IMAGES, "worker image")
    endpoints = serverless.add_argument_group("Runpod serverless endpoints (each sent explicitly)")
    endpoints.add_argument("--gpu-count", type=int, default=2, help="GPUs per worker (billed per GPU-second)")
    endpoints.add_argument("--gpu-pool", default=SERVERLESS_POOL, help="serverless GPU pool id (ADA_80_PRO: H100)")
    endpoints.add_argument("--workers-min", type=int, default=0, help="workers kept running, billed (default 0)")
    endpoints.add_argument(
        "--workers-max", type=int, default=1, help="default 1: a second worker would start with a cold prefix cache"
    )
    endpoints.add_argument("--idle-timeout", default="5m", help="how long an idle worker stays up, billed (max 1h)")
    endpoints.add_argument("--execution-timeout", default="10m", help="the longest one request may run")
    endpoints.add_argument("--flashboot", default="OFF", type=str.upper, help="OFF, FLASHBOOT or PRIORITY_FLASHBOOT")
    endpoints.add_argument("--container-disk-gb", type=int, default=200, help="room for the image and the weights")
    endpoints.add_argument("--cuda-versions", default=None, help="host CUDA versions (default: the worker's own)")


def _engine_settings(parser: argparse.ArgumentParser, images: dict[str, str], image_kind: str) -> None:
    parity = parser.add_argument_group("engine settings (both engines; --vllm/--sglang override one)")
    parity.add_argument("--model", default=DEFAULT_MODEL)
    parity.add_argument("--served-model-name", default=None, help="default: the model name")
    parity.add_argument("--tp", type=int, default=2, help="tensor parallel size")
    parity.add_argument("--context-length", type=int, default=16384)
    parity.add_argument("--gpu-memory-fraction", type=float, default=0.90)
    parity.add_argument("--prefix-cache", action=argparse.BooleanOptionalAction, default=True)
    parity.add_argument("--reasoning-parser", default="deepseek_r1", help="deepseek_r1, qwen3 or none")
    parity.add_argument("--vllm", action="append", default=[], metavar="SETTING=VALUE", help="vLLM only")
    parity.add_argument("--sglang", action="append", default=[], metavar="SETTING=VALUE", help="SGLang only")
    parity.add_argument("--vllm-image", default=images["vllm"], help=f"the vLLM {image_kind}")
    parity.add_argument("--sglang-image", default=images["sglang"], help=f"the SGLang {image_kind}")


def _targets_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--targets", default=DEFAULT_TARGETS, help=f"targets file (default {DEFAULT_TARGETS})")


def run_deploy(args: argparse.Namespace) -> int:
    command = {"up": _up, "down": _down, "status": _status, "serverless": _serverless}[args.deploy_command]
    return command(args)


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def specs_from_args(args: argparse.Namespace) -> dict[str, EngineSpec]:
    parser = None if args.reasoning_parser.lower() in ("", "none") else args.reasoning_parser
    settings = EngineSettings(
        model=args.model,
        served_model_name=args.served_model_name or args.model,
        tensor_parallel=args.tp,
        context_length=args.context_length,
        gpu_memory_fraction=args.gpu_memory_fraction,
        prefix_cache=args.prefix_cache,
        reasoning_parser=parser,
    )
    specs = {
        "vllm": EngineSpec("vllm", args.vllm_image, override(settings, args.vllm, "vllm")),
        "sglang": EngineSpec("sglang", args.sglang_image, override(settings, args.sglang, "sglang")),
    }
    validate(specs)
    return specs


def _up(args: argparse.Namespace) -> int:
    targets_path = Path(args.targets)
    if args.local:
        from deploy.local import up_local

        targets = up_local(targets_path, args.profile, progress)
        _print_targets(targets_path, targets)
        print(f"stop them with: turnbench deploy down --local --targets {targets_path}")
        return 0
    specs = specs_from_args(args)
    parity = check_parity(specs, args.force)
    options = _pod_options(args)
    if args.dry_run:
        from deploy.runpod.credentials import HF_TOKEN_ENV
        from deploy.runpod.pods import dry_run_bodies

        hf_token = bool(os.environ.get(HF_TOKEN_ENV, "").strip())
        bodies = dry_run_bodies(specs, options, not args.no_engine_api_key, hf_token, datetime.now(UTC))
        for engine, body in bodies.items():
            print(f"{engine}: POST /v2/pods")
            print(json.dumps(body, indent=2))
        places = [cloud + (f" {dc}" if dc else "") for cloud, dc in options.candidates()]
        if len(places) > 1:
            print(f"placement: {', then '.join(places)}, each after checking Runpod's catalog for free GPUs")
        print(f"parity: {parity}")
        return 0
    from deploy.runpod.credentials import Credentials
    from deploy.runpod.pods import up

    credentials = Credentials.from_env(engine_key=not args.no_engine_api_key)
    targets = up(specs, options, credentials, targets_path, parity, progress)
    _print_targets(targets_path, targets)
    hourly = sum(t.usd_per_hour for t in targets)
    print(f"the pods cost ${hourly:.2f}/h until: turnbench deploy down --targets {targets_path}")
    print(f"next: turnbench compare --targets {targets_path}")
    return 0


def _pod_options(args: argparse.Namespace) -> PodOptions:
    from deploy.runpod.lifetime import parse_duration
    from deploy.runpod.pods import PodOptions
    from deploy.runpod.readiness import ProxyUrls

    return PodOptions(
        gpu_type=args.gpu_type,
        gpu_count=args.gpu_count,
        cloud=args.cloud.upper(),
        volume_gb=args.volume_gb,
        container_disk_gb=args.container_disk_gb,
        volume_mount_path=args.volume_mount_path,
        cuda_versions=_comma_list(args.cuda_versions),
        data_centers=_comma_list(args.data_center or ""),
        max_lifetime_s=parse_duration(args.max_lifetime, "--max-lifetime") if args.max_lifetime else None,
        timeout_s=parse_duration(args.timeout, "--timeout"),
        poll_s=parse_duration(args.poll_interval, "--poll-interval"),
        proxy=ProxyUrls(args.proxy_url_template) if args.proxy_url_template else ProxyUrls(),
    )


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _print_targets(path: Path, targets: list[Target]) -> None:
    print(f"wrote {path}:")
    for t in targets:
        version = t.launch.get("engine_version", "")
        price = t.billing.get("usd_per_hour", t.billing.get("usd_per_gpu_second", ""))
        print(f"  {t.name:<18} {t.base_url}  {version}  ({t.billing.get('kind')} {price}, {t.billing.get('source')})")


def _down(args: argparse.Namespace) -> int:
    from deploy.state import load_state, remove_state, state_path

    targets_path = Path(args.targets)
    state = load_state(targets_path)
    if args.local or (state is not None and state.kind == "local" and not (args.all or args.expired)):
        from deploy.local import down_local

        stopped = down_local(targets_path, progress)
        print(f"stopped {stopped} emulator(s)")
        return 0
    from deploy.runpod.client import RunpodClient
    from deploy.runpod.credentials import Credentials
    from deploy.runpod.teardown import down

    mode = "all" if args.all else "expired" if args.expired else "recorded"
    if mode == "recorded" and state is None:
        raise DeployError(
            f"no deployment is recorded in {state_path(targets_path)}; `turnbench deploy down --all` terminates "
            "every turnbench- pod in your Runpod account"
        )
    ours = state if state is not None and state.kind == "runpod" else None
    recorded = set(ours.pods) if ours is not None else set()
    deploy_id = ours.deploy_id if ours is not None else ""
    client = RunpodClient(Credentials.from_env(engine_key=False))
    terminated = down(client, mode, recorded, progress, datetime.now(UTC), deploy_id)
    endpoints: list[str] = []
    templates: list[str] = []
    serverless = ours is not None and bool(ours.endpoints or ours.templates)
    if mode == "all" or (mode == "recorded" and serverless):
        from deploy.runpod.serverless_teardown import down as delete_endpoints

        recorded_endpoints = set(ours.endpoints) if ours is not None else set()
        recorded_templates = set(ours.templates) if ours is not None else set()
        endpoints, templates = delete_endpoints(
            client, mode, recorded_endpoints, recorded_templates, progress, deploy_id
        )
    # --expired ends pods only: endpoints carry no lifetime, so a record of endpoints stays.
    if ours is not None and (mode != "expired" or (recorded <= set(terminated) and not serverless)):
        remove_state(targets_path)
    removed = [f"terminated {len(terminated)} pod(s)"] if terminated else []
    if endpoints:
        removed.append(f"deleted {len(endpoints)} serverless endpoint(s)")
    if templates:
        removed.append(f"deleted {len(templates)} template(s)")
    print(", ".join(removed) if removed else "no turnbench pods or endpoints to remove")
    return 0


def _status(args: argparse.Namespace) -> int:
    from deploy.local import running
    from deploy.runpod.client import RunpodClient
    from deploy.runpod.credentials import Credentials
    from deploy.runpod.status import describe
    from deploy.state import load_state

    state = load_state(Path(args.targets))
    if state is not None and state.kind == "local":
        for process in state.processes:
            alive = "running" if running(process) else "NOT RUNNING"
            print(f"{process.engine} emulator pid {process.pid} {process.url}: {alive}")
        return 0
    client = RunpodClient(Credentials.from_env(engine_key=False))
    for line in describe(client.list_pods(), datetime.now(UTC)):
        print(line)
    return 0


def _serverless(args: argparse.Namespace) -> int:
    from deploy.state import refuse_if_up

    targets_path = Path(args.targets)
    existing = {"vllm": args.vllm_endpoint, "sglang": args.sglang_endpoint}
    if any(existing.values()) and not all(existing.values()):
        raise DeployError(
            "give both --vllm-endpoint and --sglang-endpoint to use existing endpoints, or neither to create them"
        )
    if all(existing.values()):
        from deploy.runpod.serverless import serverless_targets
        from deploy.targets import write_targets

        refuse_if_up(targets_path)
        targets = serverless_targets({engine: str(i) for engine, i in existing.items()}, args.model, args.gpu_count)
        write_targets(targets_path, targets)
        _print_targets(targets_path, targets)
        print("the Runpod key is the bearer token: export RUNPOD_API_KEY before `turnbench compare`")
        return 0
    from deploy.runpod.serverless import create, dry_run_bodies, with_unset_settings

    specs = specs_from_args(args)
    parity = with_unset_settings(check_parity(specs, args.force), specs)
    options = _endpoint_options(args)
    if args.dry_run:
        from deploy.runpod.credentials import HF_TOKEN_ENV

        hf_token = bool(os.environ.get(HF_TOKEN_ENV, "").strip())
        for engine, body in dry_run_bodies(specs, options, hf_token).items():
            print(f"{engine}: POST /v2/serverless")
            print(json.dumps(body, indent=2))
        print(f"parity: {parity}")
        return 0
    from deploy.runpod.credentials import Credentials

    targets = create(specs, options, Credentials.from_env(engine_key=False), targets_path, parity, progress)
    _print_targets(targets_path, targets)
    print("workers bill per GPU-second while they run; the first request cold-starts one (minutes for a 70B model)")
    print(f"delete the endpoints with: turnbench deploy down --targets {targets_path}")
    print(f"next: turnbench compare --targets {targets_path} (RUNPOD_API_KEY is the bearer token)")
    return 0


def _endpoint_options(args: argparse.Namespace) -> EndpointOptions:
    from deploy.runpod.lifetime import parse_duration
    from deploy.runpod.serverless import EndpointOptions

    return EndpointOptions(
        gpu_count=args.gpu_count,
        gpu_pool=args.gpu_pool,
        workers_min=args.workers_min,
        workers_max=args.workers_max,
        idle_timeout_s=round(parse_duration(args.idle_timeout, "--idle-timeout")),
        execution_timeout_s=parse_duration(args.execution_timeout, "--execution-timeout"),
        flashboot=args.flashboot,
        container_disk_gb=args.container_disk_gb,
        cuda_versions=None if args.cuda_versions is None else _comma_list(args.cuda_versions),
    )
