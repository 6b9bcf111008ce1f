"""`--processes auto`: enough Locust processes that none spends more than half a core on the client.

The client's CPU grows with the tokens it receives (one wake-up and one parse per SSE event), so
the load generator needs cores in proportion to the streamed-token rate. Above about half a core
per process the event loop starts to lag and every timestamp is late (README, "How accurate is
the client?"), so the choice is ceil(tokens/s x CPU per token / half a core).

The token rate is estimated, not measured: each user alternates thinking and streaming an
answer, so one user receives about mean output tokens / (mean think time x scale + mean output
tokens / decode speed) tokens per second. The means come from the scenario's own plans (a fixed
seed, so the same settings always choose the same count); the output length is the turn's
max_tokens, an upper bound when the model may stop early; the time to first token is left out.
Both make the estimate err high, which costs at most an idle process.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.recording.run_dir import figures_word

if TYPE_CHECKING:
    from harness.bench.cpu_per_token import ClientCost
    from harness.scenario.scenario import Scenario

PROCESS_CPU_BUDGET = 0.5  # cores one Locust process may spend before its event loop lags
DEFAULT_STREAM_TPS = 100.0  # assumed decode speed of one stream, tokens/s; --expected-stream-tps
PLANS_SAMPLED = 200  # conversations drawn to estimate the means: milliseconds, and stable to a few %
PLAN_SEED = 0  # fixed: the same settings always choose the same count


@dataclass(frozen=True)
class TokenRate:
    users: int
    mean_output_tokens: float  # per turn
    mean_think_s: float  # per turn, after the think-time scale
    stream_tps: float

    @property
    def per_user(self) -> float:
        cycle = self.mean_think_s + self.mean_output_tokens / self.stream_tps
        return self.mean_output_tokens / cycle if cycle > 0 else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.users * self.per_user


def expected_token_rate(
    scenario: Scenario, users: int, think_time_scale: float, stream_tps: float, max_tokens: int = 0
) -> TokenRate:
    """Tokens per second all users together should receive; `max_tokens` > 0 replaces the scenario's."""
    rng = random.Random(PLAN_SEED)
    turns = [turn for _ in range(PLANS_SAMPLED) for turn in scenario.plan(rng).turns]
    tokens = sum(max_tokens or turn.max_tokens for turn in turns) / len(turns)
    think = sum(turn.think_time_s for turn in turns) / len(turns) * think_time_scale
    return TokenRate(users, tokens, think, stream_tps)


@dataclass(frozen=True)
class ProcessChoice:
    processes: int  # what the run uses: 1 is plain local mode
    needed: int  # what the load needs, before the cap at the machine's cores
    cores: float  # client CPU the load needs, in cores
    rate: TokenRate
    cost: ClientCost
    cpu_count: int

    @property
    def reason(self) -> str:
        """One line: the estimate, the budget and where the cost per token came from."""
        rate = self.rate
        return (
            f"expected ≈ {rate.tokens_per_s:,.0f} tokens/s ({rate.users} users; {rate.mean_output_tokens:,.0f} "
            f"tokens per turn after {rate.mean_think_s:.1f} s thinking, at {rate.stream_tps:g} tokens/s per stream) "
            f"x {self.cost.us_per_token:g} µs/token = {self.cores:.2f} cores; at most {PROCESS_CPU_BUDGET:g} core "
            f"per process; cost from {self.cost.source}"
        )

    @property
    def warning(self) -> str:
        """One line when the machine has too few cores for the load; empty otherwise."""
        if self.needed <= self.processes:
            return ""
        per_process = self.cores / self.processes
        return (
            f"the load needs {self.needed} processes ({self.cores:.2f} cores of client CPU) but this machine has "
            f"{self.cpu_count} cores: each of the {self.processes} processes carries {per_process:.2f} cores, "
            f"{per_process / PROCESS_CPU_BUDGET:.1f} times its {PROCESS_CPU_BUDGET:g}-core budget; the load "
            "generator will likely be saturated (fewer users, more think time, or a bigger machine)"
        )

    def record(self) -> str:
        """The figures behind the choice as one word, for Locust's --turnbench-processes-auto."""
        return figures_word(
            {
                "needed": self.needed, "cores": f"{self.cores:.3f}", "tokens_per_s": f"{self.rate.tokens_per_s:.0f}",
                "us_per_token": f"{self.cost.us_per_token:g}", "cost": "measured" if self.cost.measured else "default",
            }
        )  # fmt: skip


def usable_cores(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may run on: `os.cpu_count()` counts the host's, not a container's.

    A CPU-pinned process sees fewer through its affinity mask, and a container (Docker, Kubernetes)
    is capped by its cgroup v2 quota (`cpu.max`, "quota period"); a quota of 1.5 cores gives 2.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    with contextlib.suppress(OSError, ValueError):
        quota, _, period = (cgroup / "cpu.max").read_text().strip().partition(" ")
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    return max(1, cores)


def choose_processes(rate: TokenRate, cost: ClientCost, cpu_count: int) -> ProcessChoice:
    cores = rate.tokens_per_s * cost.us_per_token / 1e6
    needed = max(1, math.ceil(round(cores / PROCESS_CPU_BUDGET, 9)))  # round: 1.0000000001 is 1
    return ProcessChoice(max(1, min(needed, cpu_count)), needed, cores, rate, cost, cpu_count)
