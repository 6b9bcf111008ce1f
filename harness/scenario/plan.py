"""A conversation drawn in advance: every turn's question, think time, output length and branch.

Planning a whole conversation up front, from one seeded `random.Random`, keeps all randomness
out of the request path and makes a conversation reproducible from its seed alone.

Branches model the two ways people fork a chat, as a chat UI offers them on the conversation the
person sees (the current branch). On a turn after the first, with the scenario's branch
probability, the person either
- regenerates the last answer: `Branch("regenerate", at_turn=n)`, where n is the number of user
  messages in the current branch; the turn resends the same history and last question, or
- edits one of the questions they see: `Branch("edit", at_turn=j, question=...)` for a j drawn
  from 1..n; the turn sends the history before the j-th user message, then the edited question.
`at_turn` counts user messages in the current branch (1-based), so it is always less than the
turn's own number. The turn's reply becomes the head of the conversation, and later turns
continue from it. `PlannedTurn.question` is always the user message the turn sends.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from harness.scenario.distribution import Distribution
from harness.scenario.questions import edited


@dataclass(frozen=True)
class Branch:
    """This turn forks the conversation at an earlier turn instead of continuing it."""

    kind: Literal["regenerate", "edit"]
    at_turn: int  # 1-based position of the forked user message in the current branch
    question: str | None = None  # the edited question (edit only)


@dataclass(frozen=True)
class PlannedTurn:
    question: str  # the user message this turn sends
    think_time_s: float  # wait before sending: reading the last answer, typing this question
    max_tokens: int
    min_tokens: int | None  # None: let the model stop when it likes
    branch: Branch | None = None


@dataclass(frozen=True)
class ConversationPlan:
    turns: tuple[PlannedTurn, ...]
    # Set only when the conversation brings its own system prompt (a ShareGPT conversation); it
    # then replaces `Scenario.system_message(user_index)` for this conversation.
    system_prompt: str | None = None

    @property
    def branches(self) -> int:
        return sum(1 for t in self.turns if t.branch is not None)


@dataclass(frozen=True)
class Pacing:
    """How a scenario's person paces turns and how long the answers they get are."""

    think_time: Distribution
    max_tokens: Distribution
    min_tokens: int | None
    exact_length: bool  # min_tokens equals each drawn max_tokens

    def lengths(self, rng: random.Random) -> tuple[int, int | None]:
        max_tokens = self.max_tokens.draw_int(rng)
        if self.exact_length:
            return max_tokens, max_tokens
        if self.min_tokens is None:
            return max_tokens, None
        return max_tokens, min(self.min_tokens, max_tokens)  # a drawn max below min_tokens wins

    def describe(self) -> dict[str, object]:
        min_tokens: object = "max_tokens" if self.exact_length else self.min_tokens
        return {
            "think_time_s": self.think_time.describe(),
            "max_tokens": self.max_tokens.describe(),
            "min_tokens": min_tokens,
        }


def plan_conversation(
    rng: random.Random, questions: list[str], pacing: Pacing, branch_probability: float
) -> ConversationPlan:
    """One turn per entry of `questions` (fresh questions, used in order as the plan needs them)."""
    fresh = iter(questions)
    visible: list[str] = []  # the user messages of the current branch, as the person sees them
    turns: list[PlannedTurn] = []
    for number in range(1, len(questions) + 1):
        branch: Branch | None = None
        if number > 1 and rng.random() < branch_probability:
            if rng.random() < 0.5:
                branch = Branch("regenerate", at_turn=len(visible))
                question = visible[-1]
            else:
                at = rng.randint(1, len(visible))
                question = edited(visible[at - 1], rng)
                branch = Branch("edit", at_turn=at, question=question)
                visible[at - 1 :] = [question]
        else:
            question = next(fresh)
            visible.append(question)
        think = pacing.think_time.draw(rng)
        max_tokens, min_tokens = pacing.lengths(rng)
        turns.append(PlannedTurn(question, think, max_tokens, min_tokens, branch))
    return ConversationPlan(tuple(turns))
