"""One person's conversation: the messages so far, and how a turn changes them.

The engine's real reply is appended as the assistant message, so each turn's prompt is the
previous prompt plus the reply plus a new question: exactly the growing, shared prefix that the
engines' prefix caches compete on. A branch forks the conversation the way people do: regenerate
the last answer (same prompt again), or edit an earlier question (the history up to it is kept,
everything after it is dropped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from harness.client.request import Message


class BranchLike(Protocol):
    @property
    def kind(self) -> str: ...  # "regenerate" | "edit"

    @property
    def at_turn(self) -> int: ...  # 1-based user turn being regenerated or edited

    @property
    def question(self) -> str | None: ...  # the edited question, for "edit"


@dataclass
class Conversation:
    conversation_id: str
    system: str
    messages: list[Message] = field(default_factory=list)
    branches: int = 0

    def __post_init__(self) -> None:
        if not self.messages and self.system:
            self.messages = [{"role": "system", "content": self.system}]

    def prompt_for(self, question: str, branch: BranchLike | None = None) -> list[Message]:
        """The messages to send for the next turn (the conversation itself changes only on `answer`)."""
        if branch is None:
            return [*self.messages, {"role": "user", "content": question}]
        self.branches += 1
        if branch.kind == "regenerate":
            # Drop the last answer and ask the same question again.
            history = self.messages[:-1] if self.messages[-1]["role"] == "assistant" else self.messages
            return list(history)
        # Edit: keep everything before the edited question, then send the edited one.
        kept = self._before_user_turn(branch.at_turn)
        return [*kept, {"role": "user", "content": branch.question or question}]

    def answer(self, sent: list[Message], reply: str) -> None:
        """The turn succeeded: the sent messages plus the engine's reply become the conversation."""
        self.messages = [*sent, {"role": "assistant", "content": reply}]

    def _before_user_turn(self, turn: int) -> list[Message]:
        seen = 0
        for i, message in enumerate(self.messages):
            if message["role"] == "user":
                seen += 1
                if seen == turn:
                    return self.messages[:i]
        return list(self.messages)
