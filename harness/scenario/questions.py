"""What people ask: drawing a conversation's questions, and how a person edits one.

Questions in one conversation never repeat while the pool lasts: a person does not ask the same
thing twice, and a repeated question would give the prefix cache a hit no real user produces.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from harness.scenario.spec import QuestionSpec

TEMPLATE_RETRIES = 20  # draws of a template question before a repeat is accepted
# How a person rewrites an earlier question before asking again: mostly the same words, so the
# forked prompt shares its history with the original up to that question.
EDITS = (
    "{q} Please keep the answer short.",
    "Sorry, let me rephrase: {q}",
    "{q} Could you explain it step by step?",
    "{q} Assume I'm new to this.",
    "Actually, a slightly different question. {q}",
    "{q} Just the key points, please.",
    "{q} An example would help.",
)


@dataclass(frozen=True)
class Questions:
    """A scenario's question source: a fixed pool, or templates with fill-in choices."""

    pool: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()
    fill: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def from_spec(cls, spec: QuestionSpec) -> Questions:
        return cls(spec.pool, spec.templates, spec.fill)

    def deal(self, rng: random.Random, count: int) -> list[str]:
        """`count` questions for one conversation, without repeats while the source allows."""
        if self.pool:
            out: list[str] = []
            while len(out) < count:
                batch = rng.sample(self.pool, len(self.pool))
                if out and len(batch) > 1 and batch[0] == out[-1]:
                    batch.append(batch.pop(0))  # never the same question twice in a row
                out += batch
            return out[:count]
        dealt: list[str] = []
        for _ in range(count):
            question = self._from_template(rng)
            for _ in range(TEMPLATE_RETRIES):
                if question not in dealt:
                    break
                question = self._from_template(rng)
            dealt.append(question)
        return dealt

    def _from_template(self, rng: random.Random) -> str:
        template = rng.choice(self.templates)
        return template.format(**{name: rng.choice(choices) for name, choices in self.fill})

    def describe(self) -> dict[str, object]:
        if self.pool:
            return {"pool": len(self.pool)}
        return {"templates": len(self.templates), "fill": {name: len(choices) for name, choices in self.fill}}


def edited(question: str, rng: random.Random) -> str:
    """`question` as the person rewrites it when they edit it and ask again."""
    return rng.choice(EDITS).format(q=question)
