"""The run's cache salt inside Locust: chosen once per test on the master, the same in every process.

`--cache-salt auto` must give every conversation of a test the same salt, on every worker, and the
next test a new one (harness.scenario.salt). The master (or local runner) draws it when the test
starts and puts it in a custom parsed option, which Locust's spawn messages carry to the workers
before their users start (as harness.plugin.arrivals.tell_load_processes does for the process count).
"""

from __future__ import annotations

from locust.env import Environment

from harness.plugin.options import TurnbenchOptions
from harness.recording.run_dir import CacheSaltInfo
from harness.scenario.salt import OFF, salt_for, salt_kind
from harness.scenario.scenario import shared_scenario
from harness.scenario.tokenizer import ApproximateTokenizer


def choose_salt(environment: Environment) -> None:
    """On the master (or local runner), in its test_start listener, before the spawn messages go out."""
    parsed = environment.parsed_options
    if parsed is not None:
        parsed.turnbench_cache_salt = salt_for(str(getattr(parsed, "cache_salt", "") or ""))


def describe_salt(options: TurnbenchOptions, scenario: str) -> CacheSaltInfo:
    """run.json's `cache_salt`: whether this test's prompts began with a salt, and its size (never its text)."""
    salt = options.turnbench_cache_salt
    if not salt:
        return {"on": False, "kind": OFF, "tokens": 0}
    try:
        tokens = shared_scenario(scenario, options.tokenizer).tokens_in(salt)
    except Exception:  # the scenario's failure is recorded with the scenario
        tokens = ApproximateTokenizer("the scenario did not load").count(salt)
    return {"on": True, "kind": salt_kind(options.cache_salt), "tokens": tokens}
