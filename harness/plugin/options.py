"""turnbench's Locust options: on the command line, in config files and in the web UI's start form.

Defaults are typed and never None, because the web UI converts form values with
`type(default)(value)` (notes/locust.md 7). Empty strings mean "not set".
"""

from __future__ import annotations

from typing import Any

from locust.argument_parser import LocustArgumentParser


def add_options(parser: LocustArgumentParser) -> None:
    # LocustArgumentParser.add_argument takes include_in_web_ui; argument groups do not.
    group = parser
    ui: dict[str, Any] = {"include_in_web_ui": True}
    group.add_argument("--scenario", default="", help="built-in scenario (support, coding, shared-context), "
                       "a scenario TOML file, or sharegpt:FILE.json; empty: the user class's own", **ui)  # fmt: skip
    group.add_argument("--model", default="", help="model name as the server knows it; empty: the server's first", **ui)
    group.add_argument("--tokenizer", default="", help="Hugging Face name or local folder for exact token sizes", **ui)
    group.add_argument("--max-tokens", type=int, default=0, help="output limit per turn; 0: the scenario's", **ui)
    group.add_argument("--min-tokens", type=int, default=-1, help="minimum output per turn; -1: the scenario's", **ui)
    group.add_argument("--think-time-scale", type=float, default=1.0, help="multiply think times (0: none)", **ui)
    group.add_argument("--price-usd-per-hour", type=float, default=0.0, help="what the target costs per hour", **ui)
    group.add_argument("--target-name", default="", help="a name for the target in records and reports", **ui)
    group.add_argument("--engine", default="", help="vllm, sglang or openai; empty: ask the server", **ui)
    group.add_argument("--api-key-env", default="", help="NAME of the environment variable holding the API key")
    group.add_argument("--first-token-timeout", type=float, default=300.0, help="seconds a turn may wait for a token")
    group.add_argument("--stall-timeout", type=float, default=60.0, help="seconds of silence allowed mid-answer")
    group.add_argument("--turnbench-out", default="runs", help="folder under which each test gets a run directory")
    group.add_argument("--turnbench-run-dir", default="", help="write this run directory (set by `turnbench run`)")
    group.add_argument("--turnbench-processes-auto", default="",
                       help="set by `turnbench run --processes auto`: the figures behind its choice")  # fmt: skip
    group.add_argument("--turnbench-run-time", type=float, default=0.0,
                       help="stop the test after this many seconds, letting users finish their turns and workers "
                       "send their last records (Locust's own -t quits workers without waiting for them)")  # fmt: skip
    group.add_argument("--metrics-url", default="", help="the engine's Prometheus endpoint; empty: HOST/metrics")
    group.add_argument("--metrics-interval", type=float, default=5.0, help="seconds between metrics scrapes")
    group.add_argument("--max-failure-rate", type=float, default=0.05,
                       help="exit non-zero when more than this share of turns failed")  # fmt: skip
    group.add_argument("--ramp-users", default="5,10,20,40", help="users per stage, for the StepRamp and "
                       "CapacitySearch shapes", **ui)  # fmt: skip
    group.add_argument("--ramp-stage-seconds", type=float, default=60.0, help="length of each load stage", **ui)
    group.add_argument("--slo-ttft-p95-ms", type=float, default=2000.0, help="TTFT p95 a load must hold", **ui)
    group.add_argument("--lag-limit-ms", type=float, default=5.0,
                       help="event-loop lag p99 above which timings are flagged as untrustworthy")  # fmt: skip
