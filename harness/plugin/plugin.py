"""turnbench inside Locust: listeners on Locust's events, nothing forked or subclassed in its core.

Importing this module (every locustfile does, through `harness.plugin.chat_user`) registers:
- the turnbench options (`init_command_line_parser`);
- per-turn rows kept out of the Aggregated total (`init`);
- on workers and local runners: a record buffer fed by the `request` event, a lag probe, and a
  greenlet that ships both to the master (`test_start`, `test_stop`);
- on the master (or local runner): a run directory per test with `run.json`, `requests.csv`,
  `conversations.csv` and `server_metrics.csv`, finished when the test stops and closed on quit,
  and the test's cache salt, passed on to the workers (harness.plugin.cache_salt);
- the exit code: non-zero when more turns failed than `--max-failure-rate` allows.
Listeners are registered at import (module level) so that on quit they run after the runner's
own, when the workers' last records have arrived (notes/locust.md 6.1).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner, Runner, WorkerRunner

from harness.client.server import server_info
from harness.plugin.arrivals import (
    ArrivalSchedule,
    arrival_counts,
    load_of,
    start_arrivals,
    summed,
    tell_load_processes,
)
from harness.plugin.cache_salt import choose_salt, describe_salt
from harness.plugin.drain import Drain
from harness.plugin.options import DEFAULTS, add_options, options_of, reread_options
from harness.plugin.quiet_loop import prepare_for_load
from harness.plugin.total_patch import keep_turn_rows_out_of_total
from harness.plugin.turn_entries import TURN_TYPES
from harness.plugin.user_numbers import UserNumbers
from harness.recording.cached_rule import CachedRule
from harness.recording.lag_probe import LagProbe
from harness.recording.lag_windows import WINDOW_S, lag_windows
from harness.recording.metrics_scraper import MetricsScraper
from harness.recording.run_dir import REQUESTS_CSV, TargetInfo, new_run_dir, read_figures
from harness.recording.run_json import RunRecorder
from harness.recording.turn_lag import TurnLagFlags
from harness.recording.turn_rows import FLUSH_INTERVAL_S, MESSAGE, RecordBuffer, RecordWriter, request_row
from harness.recording.turn_summary import read_turn_rows
from harness.scenario.scenario import shared_scenario

log = logging.getLogger(__name__)
DEFAULT_STOP_TIMEOUT_S = 60.0  # when Locust's is 0; long enough for a turn, short enough to wait for


class TurnbenchPlugin:
    """The per-process state, one per Environment."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.buffer = RecordBuffer()
        self.probe = LagProbe()
        self.lag_flags = TurnLagFlags(self.probe.stalls, DEFAULTS.lag_limit_ms)
        self.user_numbers: UserNumbers | None = None  # made at init, once the runner exists
        self.drain: Drain | None = None  # likewise
        self.arrivals: ArrivalSchedule | None = None  # arrival mode: this process's, made at each test start
        self.writer: RecordWriter | None = None
        self.scraper: MetricsScraper | None = None
        self.recorder: RunRecorder | None = None
        self.run_dir: Path | None = None
        self.scenario_info: dict[str, Any] = {}
        self.server: dict[str, Any] = {}
        self._shipper: gevent.Greenlet | None = None
        self.planned_end_reached = False  # with --turnbench-run-time: did the run last as long as asked?
        self._used_given_dir = False

    @property
    def is_master(self) -> bool:
        return not isinstance(self.environment.runner, WorkerRunner)

    @property
    def generates_load(self) -> bool:
        return not isinstance(self.environment.runner, MasterRunner)

    @property
    def worker_name(self) -> str:
        runner = self.environment.runner
        return f"worker-{runner.worker_index}" if isinstance(runner, WorkerRunner) else "local"

    # -- load-generating side -------------------------------------------------------------

    def on_request(self, request_type: str, context: dict[str, Any], **_: Any) -> None:
        result = context.get("turn_result") if context else None
        if result is not None and request_type not in TURN_TYPES:
            self.lag_flags.hold(request_row(result, context, self.worker_name), result)

    def conversation_ended(self, row: list[Any]) -> None:
        self.buffer.conversations.append(row)

    def ship(self, final: bool = False) -> None:
        """Send what is recorded; `final` once no turn is in flight (its rows need no more waiting)."""
        self.buffer.requests.extend(self.lag_flags.release(final))
        runner = self.environment.runner
        if runner is not None:  # a failed send keeps its rows for the next tick
            lag = self.probe.histogram if self.generates_load else None
            arrivals = arrival_counts(self.arrivals, self.drain)
            self.buffer.ship(lambda m: runner.send_message(MESSAGE, m), self.worker_name, lag, final, arrivals)

    def _ship_forever(self) -> None:
        while True:
            gevent.sleep(FLUSH_INTERVAL_S)
            try:
                self.ship()
                if self.writer is not None:
                    self.writer.flush()
                    self.writer.ledger.watch(self.environment.runner)
            except Exception:  # one bad tick must not end the shipping: the next one tries again
                log.warning("turnbench: recording the last rows failed; retrying", exc_info=True)

    # -- master side ------------------------------------------------------------------------

    def receive(self, environment: Environment, msg: Any, **_: Any) -> None:
        if self.writer is not None:
            late = self.writer.closed
            self.writer.receive(msg.data)
            if late:  # appended after the run was closed: run.json counts them too
                self.close()

    def start_run(self) -> None:
        options = options_of(self.environment)
        host = (self.environment.host or "").rstrip("/")
        self.server = server_info(host, options.engine, options.api_key_env or None)
        target_name = options.target_name or f"{self.server['engine']}"
        self.scenario_info = self._describe_scenario()
        scenario = str(self.scenario_info.get("name") or "chat")
        given = options.turnbench_run_dir
        if given and not self._used_given_dir:
            self.run_dir = Path(given)
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._used_given_dir = True
        else:
            self.run_dir = new_run_dir(Path(options.turnbench_out or "runs"), target_name, scenario)
        price = options.price_usd_per_hour
        target: TargetInfo = {
            "name": target_name,
            "engine": self.server["engine"],
            "base_url": host,
            "model": str(options.model or self.server.get("model") or ""),
            "api_key_env": options.api_key_env or None,
            "metrics_url": self._metrics_url(host),
        }
        if price > 0:
            target["billing"] = {"kind": "pod", "usd_per_hour": price, "source": "--price-usd-per-hour"}
        # What a missing cached figure means depends on the engine and its flags, known here only.
        self.writer = RecordWriter(self.run_dir, CachedRule.for_server(self.server))
        self.scraper = MetricsScraper(self._metrics_url(host), self.run_dir, options.metrics_interval)
        self.scraper.start()
        self.recorder = RunRecorder(
            self.run_dir, target, self.scenario_info, _locust_options(self.environment), self.server,
            lag_limit_ms=options.lag_limit_ms, load=load_of(self.environment),
            cache_salt=describe_salt(options, self._scenario_name()),
        )  # fmt: skip
        log.info("turnbench: recording this test in %s", self.run_dir)

    def _scenario_name(self) -> str:
        options = options_of(self.environment)
        return options.scenario or next((getattr(cls, "scenario", "") for cls in self.environment.user_classes), "")

    def _describe_scenario(self) -> dict[str, Any]:
        """The master builds the scenario too (once), so run.json describes it in every mode."""
        name = self._scenario_name()
        try:
            return shared_scenario(name, options_of(self.environment).tokenizer).describe()
        except Exception as exc:  # the users will report it; the record says what happened
            return {"name": name, "error": str(exc)}

    def finish_run(self) -> None:
        if self.writer is None or self.recorder is None:
            return
        planned = options_of(self.environment).turnbench_run_time
        # A run given a duration that ended before it (a signal, a crash) is interrupted; a run
        # without one (the web UI) is complete when someone stops it.
        status = "complete" if not planned or self.planned_end_reached else "interrupted"
        if self.scraper is not None:
            self.scraper.stop()
            self.scraper = None
        self.writer.flush()
        # Load-generating processes that sent records (the master's list is empty once they quit).
        workers = max(len(getattr(self.environment.runner, "clients", {}) or {}), len(self.writer.ledger.workers), 1)
        total = self.writer.total
        assert self.run_dir is not None
        windows = lag_windows(read_turn_rows(self.run_dir / REQUESTS_CSV), self.recorder.info["started_at"])
        first = self.recorder.info["ended_at"] is None  # later calls only bring the counts up to date
        self.writer.ledger.watch(self.environment.runner)
        arrivals = {"arrivals": summed(list(self.writer.arrivals.values()))} if self.writer.arrivals else {}
        self.recorder.finish(
            status, self.writer.lag, workers, windows, turns=total.requests, failed_turns=total.failures,  # type: ignore[arg-type]
            reconciliation=self.writer.reconcile(), lost_workers=self.writer.ledger.lost_workers(), **arrivals,
        )  # fmt: skip
        health = self.recorder.info["load_generator"]
        if first and health and health["saturated"]:
            spoiled = [w for w in windows if not w["trusted"]]
            log.warning(
                "turnbench: the load generator's event loop stalled beyond %.1f ms during %d of %d turns, in %d "
                "windows of %gs (first at %gs): those turns are left out of latency figures; use --processes or "
                "fewer users per process",
                self.recorder.lag_limit_ms, health.get("flagged_turns", 0), total.requests, len(spoiled),
                WINDOW_S, spoiled[0]["start_s"] if spoiled else 0.0,
            )  # fmt: skip

    def close(self) -> None:
        if self.writer is not None:
            self.finish_run()
            self.writer.close()

    def _metrics_url(self, host: str) -> str:
        return options_of(self.environment).metrics_url or f"{host}/metrics"


_plugins: dict[int, TurnbenchPlugin] = {}


def plugin_for(environment: Environment) -> TurnbenchPlugin:
    key = id(environment)
    if key not in _plugins:
        _plugins[key] = TurnbenchPlugin(environment)
    return _plugins[key]


def _locust_options(environment: Environment) -> dict[str, Any]:
    names = ("num_users", "spawn_rate", "run_time", "processes", "stop_timeout", "headless", "host")
    recorded = {name: getattr(environment.parsed_options, name, None) for name in names}
    auto = options_of(environment).turnbench_processes_auto
    if auto:  # `turnbench run --processes auto` chose `processes` (None: plain local mode) from these
        recorded["processes_auto"] = read_figures(auto)
    return recorded


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    add_options(parser)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    keep_turn_rows_out_of_total()
    plugin = plugin_for(environment)
    plugin.user_numbers = UserNumbers(environment)
    plugin.drain = Drain(environment)
    if plugin.is_master and not environment.stop_timeout:
        # Locust's default (0) kills users mid-turn on Stop and ramp-down: turns the server saw
        # would end as `stopped` failures. People stop between turns; the master passes this on
        # to its workers with each spawn.
        environment.stop_timeout = DEFAULT_STOP_TIMEOUT_S
        log.info("turnbench: users finish their turn when stopped (--stop-timeout %gs)", DEFAULT_STOP_TIMEOUT_S)
    if plugin.generates_load:
        environment.events.request.add_listener(plugin.on_request)
    if plugin.is_master and environment.runner is not None:
        environment.runner.register_message(MESSAGE, plugin.receive)
    if plugin.is_master:
        # Registered after the runner's own quitting listener, so (quitting fires in reverse) it runs
        # first: on Ctrl-C or SIGTERM, users finish their turn and workers ship their records before
        # Locust quits, which on its own would cut them off (LocalRunner, MasterRunner.quit).
        environment.events.quitting.add_listener(_stop_gracefully)
    if environment.web_ui is not None:
        from harness.plugin.turns_tab import add_turns_tab

        add_turns_tab(environment, lambda: plugin.writer.turns if plugin.writer is not None else {})


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    plugin = plugin_for(environment)
    if plugin.is_master:
        plugin.close()  # a previous test started from the web UI
        tell_load_processes(environment)  # before Locust sends its spawn messages to the workers
        choose_salt(environment)  # likewise: every process's conversations begin with the same salt
    reread_options(environment)
    if plugin.drain is not None:
        plugin.drain.restart()
    if plugin.is_master:
        if plugin.user_numbers is not None:
            plugin.user_numbers.restart()
        plugin.start_run()
        run_time = options_of(environment).turnbench_run_time
        if run_time > 0:
            gevent.spawn(_stop_after, environment, run_time)
    if plugin.generates_load:
        plugin.buffer.restart()  # the master counts this test's rows afresh
        plugin.lag_flags.limit_ms = options_of(environment).lag_limit_ms
        prepare_for_load(environment)
        plugin.arrivals = start_arrivals(environment)  # the test's clock starts now, after the preparing
        plugin.probe.start()
    if plugin._shipper is None:
        plugin._shipper = gevent.spawn(plugin._ship_forever)


def _stop_after(environment: Environment, seconds: float) -> None:
    """Stop first (users finish their turns and the records arrive), then quit."""
    gevent.sleep(seconds)
    runner = environment.runner
    if runner is None:
        return
    plugin_for(environment).planned_end_reached = True
    log.info("turnbench: run time of %gs reached, stopping users at their next turn boundary", seconds)
    _drain(runner)
    if isinstance(runner, MasterRunner):
        _quit_workers(runner)
    else:
        runner.stop()
    runner.quit()


def _stop_gracefully(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner) and runner.worker_count:
        log.info("turnbench: stopping users at their next turn boundary before quitting")
        _drain(runner)
        _quit_workers(runner)
    elif runner is not None and runner.state in (STATE_RUNNING, STATE_SPAWNING):
        log.info("turnbench: stopping users at their next turn boundary before quitting")
        _drain(runner)
        runner.stop()


def _drain(runner: Runner) -> None:
    """No new turns, and the ones in flight end, before Locust's stop (harness.plugin.drain)."""
    drain = plugin_for(runner.environment).drain
    timeout_s = float(runner.environment.stop_timeout or 0)
    if drain is None or drain.draining:
        return
    if isinstance(runner, MasterRunner):
        drain.drain_workers(runner, timeout_s)
    elif not drain.drain(timeout_s):
        log.warning("turnbench: %d turns still in flight after %gs; stopping anyway", drain.in_flight, timeout_s)


def _quit_workers(runner: MasterRunner) -> None:
    """Ask every worker to quit, and wait until each has shipped its records and gone.

    Not `runner.stop()`: Locust's "stop" drops the workers from the master's list while each
    sleeps out the stop timeout, so the "quit" that follows never reaches them and they linger
    until their heartbeat times out (60 s). A worker told to quit lets its users finish their
    turn, ships its records (test_stop, quitting) and then says "quit", in that order on one
    connection; when the last one has, Locust's master stops the test itself.
    """
    for client in list(runner.clients.all):
        runner.send_message("quit", client_id=client.id)
    deadline = time.monotonic() + float(runner.environment.stop_timeout or 0) + 30.0
    while runner.worker_count > 0 and time.monotonic() < deadline:
        gevent.sleep(0.1)
    writer = plugin_for(runner.environment).writer
    if writer is not None:  # a worker still there now is lost, with whatever it had not sent (warned, in run.json)
        writer.ledger.watch(runner, gave_up_waiting=runner.worker_count > 0)


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    plugin = plugin_for(environment)
    if plugin.arrivals is not None:
        plugin.arrivals.stop(time.time())  # the shipping goes on between tests: nothing more is due
    plugin.ship(final=True)
    if plugin.is_master:
        plugin.finish_run()


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    plugin = plugin_for(environment)
    plugin.ship(final=True)
    plugin.probe.stop()
    if plugin._shipper is not None:
        plugin._shipper.kill(block=False)
    if not plugin.is_master or plugin.writer is None:
        return
    plugin.close()
    total = plugin.writer.total
    limit = options_of(environment).max_failure_rate
    rate = total.failures / total.requests if total.requests else 0.0
    if environment.process_exit_code is None:
        environment.process_exit_code = 1 if rate > limit else 0
    if rate > limit:
        log.error("turnbench: %.1f%% of %d turns failed (limit %.1f%%)", rate * 100, total.requests, limit * 100)
