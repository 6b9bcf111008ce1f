"""How a conversation's messages grow and fork (harness/scenario/conversation.py)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.scenario.conversation import Conversation


@dataclass(frozen=True)
class Branch:
    kind: str
    at_turn: int
    question: str | None = None


def talk(conversation: Conversation, *questions: str) -> None:
    for i, question in enumerate(questions):
        sent = conversation.prompt_for(question)
        conversation.answer(sent, f"answer {i + 1}")


def test_each_turn_extends_the_previous_prompt_with_the_real_reply() -> None:
    c = Conversation("c1", "You are helpful.")
    first = c.prompt_for("Where is my order?")
    c.answer(first, "It ships today.")
    second = c.prompt_for("And the refund?")
    assert second[: len(first)] == first
    assert second[len(first)] == {"role": "assistant", "content": "It ships today."}
    assert second[-1] == {"role": "user", "content": "And the refund?"}


def test_regenerate_sends_the_last_question_again_without_its_answer() -> None:
    c = Conversation("c1", "sys")
    talk(c, "q1", "q2")
    sent = c.prompt_for("ignored", Branch("regenerate", 2))
    assert [m["content"] for m in sent] == ["sys", "q1", "answer 1", "q2"]
    assert c.branches == 1


def test_editing_turn_two_keeps_the_shared_part_and_drops_the_rest() -> None:
    c = Conversation("c1", "sys")
    talk(c, "q1", "q2", "q3", "q4")
    sent = c.prompt_for("q5", Branch("edit", 2, "q2, said differently"))
    assert [m["content"] for m in sent] == ["sys", "q1", "answer 1", "q2, said differently"]
    c.answer(sent, "new answer")
    assert c.prompt_for("next")[-3:] == [
        {"role": "user", "content": "q2, said differently"},
        {"role": "assistant", "content": "new answer"},
        {"role": "user", "content": "next"},
    ]
