"""turnbench's Locust options: on the command line, in config files and in the web UI's start form.

Each option is defined once, as a field of `TurnbenchOptions` with its default and help; the
Locust flags are made from those fields, and code reads the typed object (`options_of`), read
once per environment, instead of `getattr(options, name, default)` with the default repeated.
Defaults are typed and never None, because the web UI converts form values with
`type(default)(value)` (notes/locust.md 7). Empty strings mean "not set". This module does not
import Locust, so `turnbench run` can read the defaults before Locust patches the process.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from locust.argument_parser import LocustArgumentParser
    from locust.env import Environment


def _option(default: Any, help: str, ui: bool = False) -> Any:
    return field(default=default, metadata={"help": help, "ui": ui})


@dataclass(frozen=True)
class TurnbenchOptions:
    scenario: str = _option("", "built-in scenario (support, coding, shared-context), a scenario TOML file, or "
                            "sharegpt:FILE.json; empty: the user class's own", ui=True)  # fmt: skip
    model: str = _option("", "model name as the server knows it; empty: the server's first", ui=True)
    tokenizer: str = _option("", "Hugging Face name or local folder for exact token sizes", ui=True)
    max_tokens: int = _option(0, "output limit per turn; 0: the scenario's", ui=True)
    min_tokens: int = _option(-1, "minimum output per turn; -1: the scenario's", ui=True)
    think_time_scale: float = _option(1.0, "multiply think times (0: none)", ui=True)
    arrival_rate: float = _option(0.0, "new conversations per hour, all processes together; 0: closed loop, each "
                                  "user starts its next conversation when one ends", ui=True)  # fmt: skip
    warmup: float = _option(0.0, "seconds at the start that the analysis does not judge", ui=True)
    price_usd_per_hour: float = _option(0.0, "what the target costs per hour", ui=True)
    target_name: str = _option("", "a name for the target in records and reports", ui=True)
    engine: str = _option("", "vllm, sglang or openai; empty: ask the server", ui=True)
    api_key_env: str = _option("", "NAME of the environment variable holding the API key")
    cache_salt: str = _option("off", "begin every prompt with a short salt, so that no prefix cache holds "
                              "anything of this run from before: auto (a new one each test), off, or the "
                              "text itself", ui=True)  # fmt: skip
    first_token_timeout: float = _option(300.0, "seconds a turn may wait for a token")
    stall_timeout: float = _option(60.0, "seconds of silence allowed mid-answer")
    turnbench_out: str = _option("runs", "folder under which each test gets a run directory")
    turnbench_run_dir: str = _option("", "write this run directory (set by `turnbench run`)")
    turnbench_processes_auto: str = _option("", "set by `turnbench run --processes auto`: the figures behind "
                                            "its choice")  # fmt: skip
    turnbench_load_processes: int = _option(0, "set by the master at each test start: how many processes share "
                                            "--arrival-rate (0: not told, one)")  # fmt: skip
    turnbench_cache_salt: str = _option("", "set by the master at each test start: the salt this test's "
                                        "prompts begin with, from --cache-salt")  # fmt: skip
    turnbench_run_time: float = _option(0.0, "stop the test after this many seconds, letting users finish their "
                                        "turns and workers send their last records (Locust's own -t quits "
                                        "workers without waiting for them)")  # fmt: skip
    metrics_url: str = _option("", "the engine's Prometheus endpoint; empty: HOST/metrics")
    metrics_interval: float = _option(5.0, "seconds between metrics scrapes")
    max_failure_rate: float = _option(0.05, "exit non-zero when more than this share of turns failed")
    ramp_users: str = _option("5,10,20,40", "users per stage, for the StepRamp and CapacitySearch shapes", ui=True)
    ramp_stage_seconds: float = _option(60.0, "length of each load stage", ui=True)
    slo_ttft_p95_ms: float = _option(2000.0, "TTFT p95 a load must hold", ui=True)
    lag_limit_ms: float = _option(5.0, "event-loop lag p99 above which timings are flagged as untrustworthy")

    @classmethod
    def from_namespace(cls, parsed: argparse.Namespace | None) -> TurnbenchOptions:
        """From Locust's parsed options; an option Locust did not parse (library use) keeps its default."""
        values = {}
        for f in fields(cls):
            value = getattr(parsed, f.name, None)
            if value is not None:
                kind: Any = type(f.default)
                values[f.name] = kind(value)
        return cls(**values)

    @property
    def ramp_levels(self) -> list[int]:
        return [int(users) for users in self.ramp_users.split(",") if users.strip()]


DEFAULTS = TurnbenchOptions()


def add_options(parser: LocustArgumentParser) -> None:
    for f in fields(TurnbenchOptions):
        assert f.default is not MISSING
        # LocustArgumentParser.add_argument takes include_in_web_ui; argument groups do not.
        extra: dict[str, Any] = {"include_in_web_ui": True} if f.metadata["ui"] else {}
        kind = type(f.default)
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=f.default, help=f.metadata["help"],
                            **extra)  # fmt: skip


_read: dict[int, TurnbenchOptions] = {}


def options_of(environment: Environment) -> TurnbenchOptions:
    """The environment's turnbench options, as they were when its current test started."""
    if id(environment) not in _read:
        reread_options(environment)
    return _read[id(environment)]


def reread_options(environment: Environment) -> TurnbenchOptions:
    """Read the options again: called when a test starts, because the web UI's start form (and, on a
    worker, the master's spawn message) changes Locust's parsed options in place between tests."""
    _read[id(environment)] = TurnbenchOptions.from_namespace(environment.parsed_options)
    return _read[id(environment)]
