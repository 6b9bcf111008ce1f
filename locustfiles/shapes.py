"""Load shapes for finding how much chat traffic a target can take.

StepRamp holds each user count of `--ramp-users` for `--ramp-stage-seconds`, so each level has
settled numbers of its own (the analysis splits the run by level for cost per conversation and
capacity). CapacitySearch climbs the same levels and stops at the first one whose TTFT p95,
over that stage, breaks `--slo-ttft-p95-ms`, logging the last load that held.

    locust -f locustfiles/shared_context.py,locustfiles/shapes.py --class-picker
"""

from __future__ import annotations

import logging

from locust import LoadTestShape

from harness.plugin.options import DEFAULTS, options_of
from harness.plugin.turn_entries import TTFT

log = logging.getLogger(__name__)


class StepRamp(LoadTestShape):
    def _levels(self) -> tuple[list[int], float]:
        options = options_of(self.runner.environment) if self.runner else DEFAULTS
        return options.ramp_levels, options.ramp_stage_seconds

    def tick(self) -> tuple[int, float] | None:
        users, seconds = self._levels()
        stage = int(self.get_run_time() // seconds)
        if stage >= len(users):
            return None
        return users[stage], max(users[stage], 1)  # reach each level within about a second


class CapacitySearch(StepRamp):
    def __init__(self) -> None:
        super().__init__()
        self._stage = -1
        self._held: int | None = None

    def tick(self) -> tuple[int, float] | None:
        users, seconds = self._levels()
        stage = int(self.get_run_time() // seconds)
        if stage != self._stage:
            if self._stage >= 0 and not self._stage_held(users[self._stage]):
                log.warning("capacity: %d users broke the TTFT p95 SLO; the last load that held: %s users",
                            users[self._stage], self._held if self._held is not None else "none")  # fmt: skip
                return None
            if self._stage >= 0:
                self._held = users[self._stage]
            self._stage = stage
            if self.runner is not None:
                self.runner.stats.reset_all()  # each stage is judged on its own turns
        if stage >= len(users):
            log.warning("capacity: every level held; the last load that held: %s users", self._held)
            return None
        return users[stage], max(users[stage], 1)

    def _stage_held(self, users: int) -> bool:
        assert self.runner is not None
        slo = options_of(self.runner.environment).slo_ttft_p95_ms
        entries = [e for (_, kind), e in self.runner.stats.entries.items() if kind == TTFT and e.num_requests]
        worst = max((e.get_response_time_percentile(0.95) for e in entries), default=0.0)
        log.info("capacity: %d users, worst per-turn TTFT p95 %.0f ms (SLO %.0f ms)", users, worst, slo)
        return bool(entries) and worst <= slo
