"""A locustfile for test_run_json: turnbench's users, and a quit that comes well after the stop.

A listener on test_stop, registered after turnbench's own (imported first, with the user class),
notes when it ran and then holds the stop back, so the quit and its last rewrite of run.json come
at least QUIT_DELAY_S later.
"""

import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment

from harness.plugin.chat_user import ChatUser
from harness.plugin.options import options_of

QUIT_DELAY_S = 3.0
STOPPED_AT = "stopped_at"  # written into the run directory: the moment after turnbench finished the run


class ScenarioUser(ChatUser):
    scenario = "support"


@events.test_stop.add_listener
def _hold_the_quit_back(environment: Environment, **_: Any) -> None:
    run_dir = Path(options_of(environment).turnbench_run_dir)
    (run_dir / STOPPED_AT).write_text(repr(time.time()))
    gevent.sleep(QUIT_DELAY_S)
