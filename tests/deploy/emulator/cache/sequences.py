"""Token sequences the prefix-cache tests feed both caches: a system prompt, users' questions, edits."""

from __future__ import annotations

SYSTEM_PROMPT = list(range(7_000))


def question(user: int, length: int = 40) -> list[int]:
    """A user's own tokens, far above the system prompt's ids so they never collide with it."""
    start = 100_000 + user * 1_000
    return list(range(start, start + length))


def with_token_changed(ids: list[int], position: int) -> list[int]:
    """`ids` with the token at `position` replaced by an id no other sequence here uses."""
    changed = ids.copy()
    changed[position] = -1
    return changed


def conversation_and_edit() -> tuple[list[int], list[int], int]:
    """Five turns under 500 system-prompt tokens, and the same conversation with turn two onwards replaced by
    a new turn two; returns both and how many leading tokens they share (the prompt and turn one)."""
    turns = [question(turn, length) for turn, length in enumerate([303, 250, 410, 333, 275])]
    conversation = SYSTEM_PROMPT[:500] + [token for turn in turns for token in turn]
    shared = 500 + len(turns[0])
    return conversation, conversation[:shared] + question(50, 200), shared


def lcp(left: list[int], right: list[int]) -> int:
    """Length of the longest common prefix: what a token-exact cache would reuse."""
    length = 0
    for a, b in zip(left, right, strict=False):
        if a != b:
            break
        length += 1
    return length
