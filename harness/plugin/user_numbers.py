"""Run-wide user numbers: user k is the same person whatever the process count.

A user's number seeds everything about them (their private context, questions, think times), so
numbers counted per process would make user k of every worker the same person: processes would
replay each other's conversations and hit each other's cache, and the workload would change
with --processes. So one counter, on the master (or the local runner), hands out the numbers in
the order users start, across all workers and machines. A worker's user asks for its number
when it starts, before its first turn: one message round trip, off any turn's clock.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

from gevent.event import AsyncResult
from gevent.timeout import Timeout
from locust.env import Environment
from locust.runners import WorkerRunner

log = logging.getLogger(__name__)

ASK = "turnbench_user_number"
ANSWER = "turnbench_user_number_answer"
ANSWER_TIMEOUT_S = 30.0
# A worker whose master does not answer numbers its users on its own, in a range of its own: the
# users are still distinct people, but the run's workload then depends on the worker count.
OWN_RANGE = 1_000_000


class UserNumbers:
    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self._next = itertools.count()
        self._asks = itertools.count()
        self._waiting: dict[int, AsyncResult] = {}
        self._own: itertools.count[int] | None = None
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            runner.register_message(ANSWER, self._answered)
        elif runner is not None:
            runner.register_message(ASK, self._asked)

    def restart(self) -> None:
        """A new test (a new run directory) numbers its users from 0 again."""
        self._next = itertools.count()

    def take(self) -> int:
        """The next run-wide user number; on a worker, asks the master."""
        runner = self.environment.runner
        if not isinstance(runner, WorkerRunner):
            return next(self._next)
        ask = next(self._asks)
        answer: AsyncResult = AsyncResult()
        self._waiting[ask] = answer
        runner.send_message(ASK, {"ask": ask})
        try:
            return int(answer.get(timeout=ANSWER_TIMEOUT_S))
        except Timeout:
            if self._own is None:
                log.warning(
                    "turnbench: the master gave no user number within %gs; this worker numbers its users "
                    "itself, so the workload now depends on the worker count",
                    ANSWER_TIMEOUT_S,
                )
                self._own = itertools.count(OWN_RANGE * (runner.worker_index + 1))
            return next(self._own)
        finally:
            self._waiting.pop(ask, None)

    def _asked(self, environment: Environment, msg: Any, **_: Any) -> None:
        assert environment.runner is not None
        number = next(self._next)
        environment.runner.send_message(ANSWER, {"ask": msg.data["ask"], "number": number}, client_id=msg.node_id)

    def _answered(self, environment: Environment, msg: Any, **_: Any) -> None:
        answer = self._waiting.get(msg.data["ask"])
        if answer is not None:
            answer.set(msg.data["number"])
