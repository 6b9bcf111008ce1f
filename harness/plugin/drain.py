"""Ending a test without spoiling the turns in flight: no new turn, then wait for the last to end.

Locust's stop kills every thinking user in one pass of the event loop (locust/runners.py
`stop_users`): with 256 users about 10 ms in which no stream is read, so every turn then in
flight would be late by that much and flagged as lagged. A person who has just started a turn
when the test ends finishes it, and nobody starts a new one: so before stopping, turnbench
drains. Every load-generating process stops starting turns, waits for the ones in flight to
end (at most the stop timeout), and says so; only then does the stop (or the workers' quit) go
ahead, with nothing left to time.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent
from gevent.event import Event
from locust.env import Environment
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

log = logging.getLogger(__name__)

DRAIN = "turnbench_drain"
DRAINED = "turnbench_drained"


class Drain:
    """One load-generating process's turns in flight, and whether it may start new ones."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.in_flight = 0
        self.draining = False
        self.began_at: float | None = None  # epoch seconds: from then on no turn starts
        self._idle = Event()
        self._idle.set()
        self._drained_workers: set[str] = set()
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            runner.register_message(DRAIN, self._asked_to_drain)
        elif isinstance(runner, MasterRunner):
            runner.register_message(DRAINED, self._worker_drained)

    def turn_started(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def turn_ended(self) -> None:
        self.in_flight -= 1
        if self.in_flight <= 0:
            self._idle.set()

    def restart(self) -> None:
        """A new test may start turns again."""
        self.draining = False
        self.began_at = None
        self._drained_workers.clear()

    def drain(self, timeout_s: float) -> bool:
        """Start no new turn; wait for those in flight. False when the timeout came first."""
        if not self.draining:
            self.began_at = time.time()
        self.draining = True
        return bool(self._idle.wait(timeout=timeout_s))

    def drain_workers(self, runner: MasterRunner, timeout_s: float) -> None:
        """Ask every worker to drain and wait until each says it has (or the timeout)."""
        self._drained_workers.clear()
        expected = _live_workers(runner)
        for client_id in expected:
            runner.send_message(DRAIN, {"timeout_s": timeout_s}, client_id=client_id)
        deadline = time.monotonic() + timeout_s + 5.0
        while not expected <= self._drained_workers and time.monotonic() < deadline:
            gevent.sleep(0.05)
            expected &= _live_workers(runner)  # a worker gone (or missing) meanwhile is not waited for

    def _asked_to_drain(self, environment: Environment, msg: Any, **_: Any) -> None:
        gevent.spawn(self._drain_and_tell, float(msg.data["timeout_s"]))

    def _drain_and_tell(self, timeout_s: float) -> None:
        if not self.drain(timeout_s):
            log.warning("turnbench: %d turns still in flight after %gs; stopping anyway", self.in_flight, timeout_s)
        assert self.environment.runner is not None
        self.environment.runner.send_message(DRAINED, {})

    def _worker_drained(self, environment: Environment, msg: Any, **_: Any) -> None:
        self._drained_workers.add(msg.node_id)


def _live_workers(runner: MasterRunner) -> set[str]:
    """The workers that can answer: not those whose heartbeats stopped (Locust's "missing")."""
    return {client.id for client in runner.clients.all if client.state != STATE_MISSING}
