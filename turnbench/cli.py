"""`turnbench`: one command line over the three stages.

Subcommands import their stage lazily: `turnbench --help` stays instant and does not
monkey-patch the process with gevent.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from deploy.engines import LAUNCHABLE
from turnbench import __version__


class UserError(Exception):
    """A mistake the user can fix; shown as one line, never as a traceback."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a wrong flag is one line: `run`'s usage alone is a screenful that buries the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _chat(args: argparse.Namespace) -> int:
    import locust  # noqa: F401  (gevent monkey-patching must come first)

    from harness.client.chat_client import ChatClient, Timeouts
    from harness.client.request import ChatRequest, user_message
    from harness.client.server import ClientConfigError

    try:
        client = ChatClient.standalone(
            args.base_url,
            api_key_env=args.api_key_env,
            timeouts=Timeouts(first_token=args.timeout, stall=args.timeout),
        )
        request = ChatRequest(
            model=args.model,
            messages=[user_message(args.message)],
            max_tokens=args.max_tokens,
            min_tokens=args.max_tokens if args.exact_length else None,
            ignore_eos=True if args.exact_length else None,
            temperature=args.temperature,
        )
    except (ClientConfigError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    results = [client.send(request) for _ in range(args.repeat)]
    for result in results:
        if args.json:
            row = result.to_dict()
            row.pop("content"), row.pop("reasoning")
            print(json.dumps(row))
        else:
            print(_describe(result))
    return 0 if all(r.ok for r in results) else 1


def _describe(result: object) -> str:
    from harness.client.turn_result import TurnResult

    assert isinstance(result, TurnResult)

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} ms"

    if not result.ok:
        return f"FAILED {result.error_kind}: {result.error} (after {ms(result.e2e_ms)})"
    return (
        f"ttft {ms(result.ttft_ms)}  ttfo {ms(result.ttfo_ms)}  e2e {ms(result.e2e_ms)}  "
        f"tpot {ms(result.tpot_ms)}  itl p50/p99 {ms(result.itl_p50_ms)}/{ms(result.itl_p99_ms)}  "
        f"tokens prompt={result.prompt_tokens} cached={result.cached_tokens} "
        f"completion={result.completion_tokens}  finish={result.finish_reason}"
    )


def _tiny_model(args: argparse.Namespace) -> int:
    from deploy.tiny_model import build

    try:
        out = build(Path(args.out_dir), preset=args.preset, seed=args.seed)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    print(f"wrote a {args.preset} test model to {out}")
    return 0


def _emulate(args: argparse.Namespace) -> int:
    import asyncio

    from deploy.emulator.faults import FaultPlan, FaultSpecError
    from deploy.emulator.http import KEEP_ALIVE_TIMEOUT_S
    from deploy.emulator.profile import ProfileError, load_profile
    from deploy.emulator.server import EmulatorConfig, serve_forever

    try:
        config = EmulatorConfig(
            engine=args.engine,
            host=args.host,
            port=args.port,
            model=args.model,
            profile=load_profile(args.profile),
            faults=FaultPlan.parse(args.faults),
            seed=args.seed,
            truth_csv=Path(args.truth_csv) if args.truth_csv else None,
            keep_alive_timeout_s=KEEP_ALIVE_TIMEOUT_S if args.keep_alive_timeout is None else args.keep_alive_timeout,
        )
    except (ProfileError, FaultSpecError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    try:
        import uvloop  # a faster loop when installed; the emulator's truth log stays honest either way

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve_forever(config))
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from exc
    return 0


def _stage(function: str, error: str) -> Callable[[argparse.Namespace], int]:
    """A subcommand that lives in a stage: imported when it runs; the stage's error is a UserError."""

    def run(args: argparse.Namespace) -> int:
        module, _, name = function.partition(":")
        error_module, _, error_name = error.partition(":")
        stage_error = getattr(importlib.import_module(error_module), error_name)
        try:
            return int(getattr(importlib.import_module(module), name)(args))
        except stage_error as exc:
            raise UserError(str(exc)) from exc

    return run


_run = _stage("harness.run.command:run", "harness.run.command:RunError")
_compare = _stage("turnbench.compare:compare", "turnbench.compare:CompareError")
_report = _stage("analysis.cli:run_report", "analysis.errors:AnalysisError")
_cost = _stage("analysis.cost_cli:run_cost", "analysis.errors:AnalysisError")
_deploy = _stage("deploy.cli:run_deploy", "deploy.errors:DeployError")
_bench = _stage("harness.bench.command:run", "harness.bench.command:BenchError")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="turnbench",
        description="Multi-turn LLM load testing with Locust: which engine is faster and cheaper for your chat.",
    )
    parser.add_argument("--version", action="version", version=f"turnbench {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    chat = commands.add_parser(
        "chat",
        help="send one streamed chat turn to an OpenAI-compatible server and print what it measured",
        description="Send one streamed chat turn and print TTFT, TTFO, E2E, TPOT, ITL and the server's token counts.",
    )
    chat.add_argument("--base-url", required=True, help="server root, e.g. http://127.0.0.1:8000")
    chat.add_argument("--model", required=True, help="model name as the server knows it")
    chat.add_argument("--message", default="Explain prefix caching in one paragraph.")
    chat.add_argument("--max-tokens", type=int, default=64)
    chat.add_argument("--exact-length", action="store_true", help="ask for exactly --max-tokens tokens")
    chat.add_argument("--temperature", type=float, default=None)
    chat.add_argument("--api-key-env", default=None, help="NAME of the environment variable holding the API key")
    chat.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the first token")
    chat.add_argument("--repeat", type=int, default=1, help="send the same turn this many times")
    chat.add_argument("--json", action="store_true", help="one JSON object per turn")
    chat.set_defaults(run=_chat)

    emulate = commands.add_parser(
        "emulate",
        help="serve a local emulated engine (vLLM-like or SGLang-like) with real prefix caches",
        description="Serve an OpenAI-compatible emulated engine: its wire dialect, prefix cache, continuous "
        "batching and metrics, with a ground-truth log of every token it sent. Its numbers are a model.",
    )
    emulate.add_argument("--engine", required=True, choices=LAUNCHABLE)
    emulate.add_argument("--host", default="127.0.0.1")
    emulate.add_argument("--port", type=int, default=8000)
    emulate.add_argument("--model", default="emulated", help="served model name")
    emulate.add_argument("--profile", default="h100x2-70b", help="built-in name (h100x2-70b, fast) or a .toml file")
    emulate.add_argument("--faults", default="", help='fault rates, e.g. "http_5xx=0.01,truncated=0.02"')
    emulate.add_argument("--seed", type=int, default=0)
    emulate.add_argument("--truth-csv", default=None, help="also write the ground-truth log to this CSV file")
    emulate.add_argument(
        "--keep-alive-timeout",
        type=float,
        default=None,  # deploy.emulator.http.KEEP_ALIVE_TIMEOUT_S, not imported here to keep --help instant
        metavar="SECONDS",
        help="close a connection idle this long, as vLLM and SGLang do (default 5; 0: never)",
    )
    emulate.set_defaults(run=_emulate)

    from harness.run.command import add_run_parser

    add_run_parser(commands)
    commands.choices["run"].set_defaults(run=_run)

    from analysis.cli import add_report_parser

    add_report_parser(commands).set_defaults(run=_report)

    from analysis.cost_cli import add_cost_parser

    add_cost_parser(commands).set_defaults(run=_cost)

    from deploy.cli import add_deploy_parser

    add_deploy_parser(commands).set_defaults(run=_deploy)

    from turnbench.compare import add_compare_parser

    add_compare_parser(commands)
    commands.choices["compare"].set_defaults(run=_compare)

    bench = commands.add_parser(
        "bench",
        help="measure the load generator itself: CPU per streamed token and timing error against ground truth",
        description="Stream from a built-in ground-truth server (its own process) with turnbench's client and with "
        "two bare Locust FastHttpUsers; report client CPU per 1,000 tokens and TTFT/ITL error at 1, 64 and 256 "
        "streams and in a burst. Takes about 4 minutes with the defaults.",
    )
    bench.add_argument("--runs", type=int, default=3, help="repeat everything this many times; figures are medians")
    bench.add_argument("--rounds", type=int, default=3, help="measured rounds of streams per load and run")
    bench.add_argument("--quick", action="store_true", help="small loads, for a smoke test (figures not saved)")
    bench.add_argument("--no-baseline", action="store_true", help="measure turnbench's client only")
    bench.add_argument("--out", default="runs/bench", help="bench.md and bench.json go in a dated folder here")
    bench.set_defaults(run=_bench)

    tiny = commands.add_parser(
        "tiny-model",
        help="build a tiny random-weight Llama with its own tokenizer, offline (for tests and CPU engines)",
    )
    tiny.add_argument("out_dir")
    tiny.add_argument("--preset", default="tiny", help="tiny (7 M parameters) or small (~60 M)")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(run=_tiny_model)
    return parser


class _InterruptOnce:
    """`turnbench run`'s Ctrl-C and SIGTERM from the first line of `main` until Locust starts (then
    harness.run.command forwards them): the first ends the command where it is, as a
    KeyboardInterrupt, with one line and exit 130. Later ones, while it winds down, change nothing;
    Python's own handler would raise again and end it by SIGINT (-2), without the line."""

    def __init__(self) -> None:
        self.seen = False

    def __call__(self, _signum: int, _frame: object) -> None:
        if self.seen:
            return
        self.seen = True
        gevent = sys.modules.get("gevent")  # imported with Locust
        if gevent is not None:  # which prints a KeyboardInterrupt that reaches its loop as an error
            hub = gevent.get_hub()
            hub.NOT_ERROR = (*hub.NOT_ERROR, KeyboardInterrupt)
        raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    command = next((word for word in words if not word.startswith("-")), "")  # no top-level option takes a value
    previous = {}
    if command in ("run", "compare"):  # compare: its levels and emulators are stopped, not orphaned
        interrupt = _InterruptOnce()
        previous = {signum: signal.signal(signum, interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        args = build_parser().parse_args(words)
        run: Callable[[argparse.Namespace], int] = args.run
        return run(args)
    except UserError as exc:
        print(f"turnbench {command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"turnbench {command}: interrupted", file=sys.stderr)
        if argv is None:
            # CPython (3.11) remembers a KeyboardInterrupt raised inside exec() or eval() code (the
            # dataclasses and namedtuples an import defines) even once it is caught, and then ends
            # `python -m turnbench` by SIGINT (-2) instead of 130: leave without asking it.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return 130
    finally:
        for signum, handler in previous.items():
            # argv None: this is the process, and it ends now. Python puts the default handlers
            # back while it finalizes, and a Ctrl-C then would end it by SIGINT instead of 130.
            signal.signal(signum, signal.SIG_IGN if argv is None else handler)


if __name__ == "__main__":
    sys.exit(main())
