"""Open-loop conversation arrivals: new conversations start at a rate, however fast the engine answers.

With `--arrival-rate` (conversations per hour, all processes together) each Locust user is a *line*
that holds one conversation at a time, like k6's constant-arrival-rate executor with pre-allocated
VUs. An idle line claims the next arrival time of its process's schedule (a future one too) and
waits for it the way Locust waits (ChatUser.wait_time), so a stop during the wait ends the user
cleanly; turn 1 goes out at the arrival, later turns follow the conversation's think times. An
arrival whose time has already passed when a line claims it starts late (every line was busy): it
is counted (requests.csv `start_late_ms`, run.json `arrivals`) and said, never hidden.

Each load-generating process draws its own Poisson schedule at arrival_rate / load_processes (a
superposition of independent Poisson processes is Poisson at the summed rate), seeded from the
scenario seed and the process's worker index, so a run's arrival times are the same run after run.
The master counts the load-generating processes when a test starts and passes the figure to its
workers as a custom parsed option (`tell_load_processes`).
"""

from __future__ import annotations

import bisect
import random
import time

from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.plugin.drain import Drain
from harness.plugin.options import options_of
from harness.plugin.quiet_loop import planned_users
from harness.recording.run_dir import LATE_START_S, ArrivalCounts, LoadInfo
from harness.scenario.scenario import ScenarioError, shared_scenario


class ArrivalSchedule:
    """One process's Poisson arrival times (epoch seconds) from `start`, and what became of them."""

    def __init__(self, per_hour: float, seed: int, worker_index: int, start: float) -> None:
        self.per_second = per_hour / 3600.0
        # A string seed is hashed (SHA-512) by `random`: the same on every machine and Python run.
        self._rng = random.Random(f"turnbench-arrivals:{seed}:{worker_index}")
        self._times: list[float] = []  # drawn so far, in order: one float per conversation
        self._last = start
        self._claimed = 0
        self.started = 0  # conversations whose turn 1 was sent
        self.late = 0  # of them, sent more than LATE_START_S after their arrival
        self.lines = 0  # lines (users) that took part in this test
        self.stopped_at: float | None = None  # the test stopped: later arrivals were never offered

    def claim(self) -> float:
        """The next arrival no line has taken yet: a line's next conversation starts then."""
        while len(self._times) <= self._claimed:
            self._draw()
        self._claimed += 1
        return self._times[self._claimed - 1]

    def began(self, arrival: float, now: float) -> None:
        """A line sends the turn 1 of the conversation that arrived at `arrival`."""
        self.started += 1
        if now - arrival > LATE_START_S:
            self.late += 1

    def due(self, until: float) -> int:
        """Arrivals whose time had come by `until`, whether a line took them or not."""
        while not self._times or self._times[-1] <= until:
            self._draw()
        return bisect.bisect_right(self._times, until)

    def stop(self, at: float) -> None:
        self.stopped_at = at if self.stopped_at is None else min(self.stopped_at, at)

    def counts(self, until: float) -> ArrivalCounts:
        if self.stopped_at is not None:
            until = min(until, self.stopped_at)
        # A process without lines (more workers than users) offers none of its share.
        due = self.due(until) if self.lines else 0
        return {"due": due, "started": self.started, "late": self.late, "lines": self.lines}

    def _draw(self) -> None:
        self._last += self._rng.expovariate(self.per_second)
        self._times.append(self._last)


def tell_load_processes(environment: Environment) -> None:
    """On the master (or local runner), in its test_start listener: how many processes share the rate.

    Locust 2.47 makes this reach every worker before its users start (locust/runners.py):
    MasterRunner.start sets target_user_count (L746) and fires test_start (L780) before it builds
    the "spawn" messages, each carrying `vars(parsed_options)` (L793-801); WorkerRunner's "spawn"
    handling copies the options that are not Locust's own into its parsed options (L1397-1404)
    before it fires its own test_start (L1412), where `start_arrivals` reads them.
    """
    parsed, runner = environment.parsed_options, environment.runner
    if parsed is None:
        return
    processes = 1
    if isinstance(runner, MasterRunner):
        processes = runner.worker_count
        # Locust's dispatcher gives users to workers in turn: with fewer users than workers, the
        # workers left without any offer nothing, so the others share the rate.
        if environment.shape_class is None and runner.target_user_count:
            processes = min(processes, runner.target_user_count)
    parsed.turnbench_load_processes = max(1, processes)


def start_arrivals(environment: Environment) -> ArrivalSchedule | None:
    """A load-generating process's schedule for the test now starting; None in closed loop."""
    options = options_of(environment)
    if options.arrival_rate <= 0:
        return None
    runner = environment.runner
    index = runner.worker_index if isinstance(runner, WorkerRunner) else 0
    processes = max(1, options.turnbench_load_processes)
    return ArrivalSchedule(options.arrival_rate / processes, _scenario_seed(environment), index, time.time())


def arrival_counts(schedule: ArrivalSchedule | None, drain: Drain | None) -> ArrivalCounts | None:
    """The counts so far. An arrival due after the drain began (or, without one, after the test
    stopped: the web UI's Stop) could not have started, so it is not due."""
    if schedule is None:
        return None
    began = drain.began_at if drain is not None else None
    return schedule.counts(time.time() if began is None else min(began, time.time()))


def summed(counts: list[ArrivalCounts]) -> ArrivalCounts:
    return {
        "due": sum(c["due"] for c in counts),
        "started": sum(c["started"] for c in counts),
        "late": sum(c["late"] for c in counts),
        "lines": sum(c["lines"] for c in counts),
    }


def load_of(environment: Environment) -> LoadInfo:
    """run.json's `load`: what the test offers, as the analysis needs it to judge and compare."""
    options = options_of(environment)
    arrivals = options.arrival_rate > 0
    return {
        "kind": "arrivals" if arrivals else "shape" if environment.shape_class is not None else "users",
        "conversations_per_hour": options.arrival_rate if arrivals else None,
        "users": planned_users(environment),
        "warmup_s": options.warmup,
        "think_time_scale": options.think_time_scale,
        "max_tokens": options.max_tokens,
        "min_tokens": options.min_tokens,
    }


def _scenario_seed(environment: Environment) -> int:
    options = options_of(environment)
    name = options.scenario or next((getattr(c, "scenario", "") for c in environment.user_classes), "")
    try:
        return shared_scenario(name, options.tokenizer).seed
    except ScenarioError:  # reported by the users, in one line
        return 0
