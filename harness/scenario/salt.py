"""A run's cache salt: a few run-unique tokens at the very start of every conversation's prompt.

A prefix cache reuses what an earlier request began with. A run whose prompts begin with text no
earlier run sent (this run's salt) finds none of them cached, whatever the engine, and with no
endpoint to call: it is the fallback when a cache flush is impossible (vLLM without its dev mode,
an SGLang that stayed busy, a hosted API) and a guard against another user's traffic. Every
conversation of the run begins with the same salt, so the conversations still share the (salted)
system message and context, and the run measures caching among them as an unsalted run would.

The salt goes first in the system message (a ShareGPT conversation without one gets it as its
system message). Only the chat template's own opening tokens (a handful) come before it.
"""

from __future__ import annotations

import secrets
from typing import Final, Literal

OFF: Final = "off"
AUTO: Final = "auto"
AUTO_HEX_CHARS = 8  # 32 random bits: runs do not share a salt; "run 9f86d081" is a handful of tokens
SEPARATOR = "\n\n"  # between the salt and the system message, as between the system message's parts


def salt_for(setting: str) -> str:
    """The salt a test's conversations begin with: a new one each test for "auto", none for "off" (or
    empty), else the text given (the same every run: it keeps other users' caches apart, not runs)."""
    text = setting.strip()
    if text.lower() in ("", OFF):
        return ""
    if text.lower() == AUTO:
        return f"run {secrets.token_hex(AUTO_HEX_CHARS // 2)}"
    return text


def salted(system: str, salt: str) -> str:
    """The system message with the salt in front of it; the salt alone when there is no system message."""
    if not salt:
        return system
    return f"{salt}{SEPARATOR}{system}" if system else salt


def salt_kind(setting: str) -> Literal["off", "auto", "given"]:
    text = setting.strip().lower()
    return OFF if text in ("", OFF) else AUTO if text == AUTO else "given"
