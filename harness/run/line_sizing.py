"""`--arrival-rate` without `-u`: how many lines (Locust users) an arrival rate needs.

A line holds one conversation at a time, so the lines busy at once are the conversations in
progress: by Little's law L = arrival rate x mean conversation duration. The duration is
estimated as the scenario's turns x (mean think time x scale + mean max_tokens / expected stream
speed), from the same fixed sample of plans as --processes auto. It errs high (turn 1's think time
is counted, though a line sends turn 1 at the arrival; answers may stop before max_tokens) and
low when the engine is slower than the stream speed or queues. Poisson arrivals also bunch (the
busy lines' standard deviation is about sqrt(L)), so turnbench provides ceil(LINE_FACTOR x L +
SPARE_LINES): an idle line costs nothing but memory, while a missing one makes conversations start
late, which the run counts and says.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.run.process_choice import PLAN_SEED, PLANS_SAMPLED

if TYPE_CHECKING:
    from harness.scenario.scenario import Scenario

LINE_FACTOR = 2.0  # lines per conversation expected in progress: room for a slower engine
SPARE_LINES = 10  # on top: room for Poisson bunching when the expected concurrency is small


@dataclass(frozen=True)
class LineSizing:
    per_hour: float
    mean_turns: float  # per conversation
    mean_think_s: float  # per turn, after the think-time scale
    mean_output_tokens: float  # per turn
    stream_tps: float

    @property
    def conversation_s(self) -> float:
        return self.mean_turns * (self.mean_think_s + self.mean_output_tokens / self.stream_tps)

    @property
    def concurrency(self) -> float:
        """Conversations expected in progress at once (Little's law)."""
        return self.per_hour / 3600.0 * self.conversation_s

    @property
    def lines(self) -> int:
        return math.ceil(round(LINE_FACTOR * self.concurrency + SPARE_LINES, 9))

    @property
    def reason(self) -> str:
        return (
            f"{self.lines} lines (-u) = ceil({LINE_FACTOR:g} x {self.concurrency:.1f} conversations in progress + "
            f"{SPARE_LINES}): {self.per_hour:,.6g}/h x {self.conversation_s:.1f} s per conversation "
            f"({self.mean_turns:.1f} turns of {self.mean_think_s:.1f} s thinking + "
            f"{self.mean_output_tokens:,.0f} tokens at {self.stream_tps:g} tokens/s)"
        )


def size_lines(
    scenario: Scenario, per_hour: float, think_time_scale: float, stream_tps: float, max_tokens: int = 0
) -> LineSizing:
    """The lines `per_hour` arrivals need; `max_tokens` > 0 replaces the scenario's output limits."""
    rng = random.Random(PLAN_SEED)
    plans = [scenario.plan(rng) for _ in range(PLANS_SAMPLED)]
    turns = [turn for plan in plans for turn in plan.turns]
    tokens = sum(max_tokens or turn.max_tokens for turn in turns) / len(turns)
    think = sum(turn.think_time_s for turn in turns) / len(turns) * think_time_scale
    return LineSizing(per_hour, len(turns) / len(plans), think, tokens, stream_tps)
