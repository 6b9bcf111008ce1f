"""The mechanics under every turnbench Locust user: one user is one person holding conversations.

Each task is one turn, so a user that Locust stops on ramp-down stops between turns, and the
think time before the next turn is the user's `wait_time`. A conversation runs its planned turns;
a failed turn ends it (people give up, or start over) and the next conversation begins. The
scenario and its prompts are built once per process at start-up; a turn does no tokenizing.

In arrival mode (`--arrival-rate`) a user is a line (harness.plugin.arrivals): its next
conversation begins not when the last one ends but at the next arrival it claims, and the wait
for it is the `wait_time` before turn 1.
"""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

import gevent
from locust import FastHttpUser, task
from locust.exception import StopUser

import harness.plugin.plugin  # noqa: F401  (registers turnbench's listeners and options)
from harness.client.chat_client import ChatClient, Timeouts
from harness.client.request import ChatRequest
from harness.client.server import ClientConfigError, served_model
from harness.plugin.options import options_of
from harness.plugin.plugin import plugin_for
from harness.plugin.turn_entries import CHAT_NAME, fire_turn_rows
from harness.scenario.conversation import Conversation
from harness.scenario.salt import salted
from harness.scenario.scenario import ConversationPlan, PlannedTurn, ScenarioError, shared_scenario

_user_numbers = itertools.count()  # only for a user outside a turnbench environment (no init event)


class ChatUser(FastHttpUser):
    """A person chatting with an LLM service. Subclasses say who (`scenario`)."""

    abstract = True
    scenario: str = "support"
    # Socket timeouts: waiting for the first token can include long queueing under load.
    network_timeout = 300.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        options = options_of(self.environment)
        try:
            self.plan_source = shared_scenario(options.scenario or self.scenario, options.tokenizer)
        except ScenarioError as exc:
            if self.environment.runner is not None:
                self.environment.runner.quit()
            raise StopUser(str(exc)) from exc
        timeouts = Timeouts(first_token=options.first_token_timeout, stall=options.stall_timeout)
        try:
            self.chat = ChatClient(self.client, api_key_env=options.api_key_env or None, timeouts=timeouts)
        except ClientConfigError as exc:
            raise StopUser(str(exc)) from exc
        self.model = options.model or served_model(self.host or "", options.api_key_env or None)
        numbers = plugin_for(self.environment).user_numbers
        self.user_number = numbers.take() if numbers is not None else next(_user_numbers)
        seed = self.plan_source.seed * 1_000_003 + self.user_number
        self.rng = random.Random(seed)
        self.think_scale = options.think_time_scale
        self.max_tokens = options.max_tokens
        self.min_tokens = options.min_tokens
        self.target = options.target_name
        self.salt = options.turnbench_cache_salt  # the test's, chosen by the master (harness.scenario.salt)
        self.conversations = 0
        self.arrivals = plugin_for(self.environment).arrivals  # None: closed loop
        if self.arrivals is not None:
            self.arrivals.lines += 1
        self._start_conversation()
        # The person thinks before the first question too (the scenario's think time covers turn 1),
        # and waits the way Locust waits, so a stop during it ends the user cleanly. A line waits
        # for its conversation's arrival instead.
        self._next_think = self.plan.turns[0].think_time_s
        self.wait()

    def wait_time(self) -> float:
        if self.arrival is not None and self.turn == 0:
            return max(0.0, self.arrival - time.time())
        return self._next_think * self.think_scale

    def _start_conversation(self) -> None:
        self.conversations += 1
        worker = plugin_for(self.environment).worker_name
        self.plan: ConversationPlan = self.plan_source.plan(self.rng)
        # A ShareGPT conversation brings its own system prompt; otherwise it is this user's context.
        system = self.plan.system_prompt
        if system is None:
            system = self.plan_source.system_message(self.user_number)
        conversation_id = f"{worker}-u{self.user_number}-c{self.conversations}"
        self.conversation = Conversation(conversation_id, salted(system, self.salt))
        self.turn = 0
        self.failed_turns = 0
        self.started_at = time.time()
        # A line claims the next arrival as soon as it is free: one already due starts late.
        self.arrival: float | None = self.arrivals.claim() if self.arrivals is not None else None

    @task
    def take_turn(self) -> None:
        # Locust kills a user it finds thinking (`wait`) by queueing a GreenletExit. If the think
        # time ends in the same loop pass, the user wakes first and would start this turn, and the
        # kill would land mid-request: a request the server saw and the records lost. One yield
        # lets a queued kill land before anything is sent.
        gevent.sleep(0)
        drain = plugin_for(self.environment).drain
        if drain is not None and drain.draining:
            raise StopUser()  # the test is ending: people finish a turn, they do not start one
        planned = self.plan.turns[self.turn]
        arrival = self.arrival if self.turn == 0 else None
        self.turn += 1
        messages = self.conversation.prompt_for(planned.question, planned.branch)
        max_tokens = self.max_tokens or planned.max_tokens
        min_tokens = planned.min_tokens if self.min_tokens < 0 else (self.min_tokens or None)
        request = ChatRequest(
            self.model,
            messages,
            max_tokens,
            min_tokens=min(min_tokens, max_tokens) if min_tokens else None,
            temperature=self.plan_source.temperature,
            top_p=self.plan_source.top_p,
        )
        context = self._context(planned)
        if arrival is not None and self.arrivals is not None:
            # The conversation starts now (its record says so), as late as the lines let it.
            self.started_at = time.time()
            self.arrivals.began(arrival, self.started_at)
            context["arrival"] = arrival  # the turn's row gets start_late_ms = t0 - arrival
        if drain is not None:
            drain.turn_started()
        try:
            result = self.chat.send(request, name=CHAT_NAME, context=context)
        finally:
            if drain is not None:
                drain.turn_ended()
        fire_turn_rows(self.environment.events.request, self.turn, result, context)
        if result.ok:
            self.conversation.answer(messages, result.content)
        else:
            self.failed_turns += 1
        if not result.ok or self.turn >= len(self.plan.turns):
            self._end_conversation("complete" if result.ok else "failed")
            self._start_conversation()
        self._next_think = self.plan.turns[self.turn].think_time_s

    def on_stop(self) -> None:
        if self.turn:
            self._end_conversation("interrupted")

    def _context(self, planned: PlannedTurn) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation.conversation_id,
            "user_class": type(self).__name__,
            "scenario": self.plan_source.name,
            "turn": self.turn,
            "branch": self.conversation.branches,
            "branch_kind": planned.branch.kind if planned.branch else "",
            "branch_of": planned.branch.at_turn if planned.branch else None,
            "user": self.user_number,
            "target": self.target,
        }

    def _end_conversation(self, status: str) -> None:
        plugin = plugin_for(self.environment)
        plugin.conversation_ended(
            [
                self.conversation.conversation_id, type(self).__name__, self.plan_source.name, plugin.worker_name,
                len(self.plan.turns), self.turn, self.failed_turns, self.conversation.branches,
                round(self.started_at, 3), round(time.time(), 3), status, self.target,
            ]
        )  # fmt: skip
