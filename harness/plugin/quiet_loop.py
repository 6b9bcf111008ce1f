"""Work that would stall the users' event loop mid-test, done before the load starts instead.

Anything that holds the loop while turns are in flight makes their timings late (and flagged):
a user's private context built as the user starts (about a millisecond each; a ramp step of 100
users is 100 ms), the first host lookup (it starts gevent's resolver thread), Locust's first
`stop()` (below), a full garbage collection over every object the process holds.
`prepare_for_load` runs at test start on every load-generating process.
"""

from __future__ import annotations

import gc
import inspect

from locust.env import Environment

from harness.client.pool_patch import resolve_ahead
from harness.plugin.options import options_of
from harness.scenario.scenario import ScenarioError, shared_scenario


def prepare_for_load(environment: Environment) -> None:
    _prepare_users(environment)
    resolve_ahead(environment.host or "")
    _warm_the_stop_call()
    # What exists now (the scenario, its prepared contexts, Locust itself) lives for the whole
    # test: out of the collector's way, a full collection mid-test scans only what turns made.
    gc.collect()
    gc.freeze()


def planned_users(environment: Environment) -> int:
    """The most users the test will run (lines, in arrival mode): -u, or a ramp shape's top level."""
    users = int(getattr(environment.parsed_options, "num_users", 0) or 0)
    if environment.shape_class is not None:
        users = max([users, *options_of(environment).ramp_levels])
    return users


def _prepare_users(environment: Environment) -> None:
    """Build the private contexts of every user the test will start, before the first one does.

    Fitting a user's context to its token size takes about a millisecond; done as users start, it
    would stall the event loop while other users' turns are being timed (a ramp step of 100
    users: 100 ms). User numbers are run-wide, so every process prepares all of them.
    """
    options = options_of(environment)
    users = planned_users(environment)
    names = {options.scenario} if options.scenario else {getattr(c, "scenario", "") for c in environment.user_classes}
    for name in sorted(n for n in names if n):
        try:
            shared_scenario(name, options.tokenizer).prepare(users)
        except ScenarioError:  # reported by the users, in one line
            return


def _warm_the_stop_call() -> None:
    """Locust's `Runner.stop()` logs its caller through `inspect.stack()` (locust/runners.py, 2.47):
    about 20 ms the first time, while `inspect` maps every loaded module to its file, and under 2 ms
    once it has. Stop and ramp-down happen with turns in flight, so the first call is made now."""
    inspect.stack()
