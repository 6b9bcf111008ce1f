"""Reading real conversations from a ShareGPT-format file, for `sharegpt:/path/file.json`.

The format is a JSON list of `{"id": ..., "conversations": [{"from": ..., "value": ...}, ...]}`.
Only what people asked is kept: the human turns of a conversation become the questions of one
planned conversation, in their order, because replaying the recorded answers would hide what the
engine under test generates. Public dumps use several names for the speakers, so "human"/"user"
are the person, "gpt"/"chatgpt"/"assistant"/"bard"/"bing"/"model" the model (skipped), and
"system" the conversation's system prompt. Entries without a single human turn are skipped.
Errors give the entry's 0-based index in the list (`.[3]` in jq is "entry 3").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.scenario.spec import ScenarioError

MAX_TURNS = 20  # longer recorded chats are cut: a few very long ones would dominate a run's time
HUMAN = frozenset({"human", "user"})
MODEL = frozenset({"gpt", "chatgpt", "assistant", "bard", "bing", "model"})
SYSTEM = "system"


@dataclass(frozen=True)
class RecordedConversation:
    questions: tuple[str, ...]  # the human turns, at most MAX_TURNS
    system_prompt: str | None


def read_sharegpt(path: Path, label: str) -> tuple[RecordedConversation, ...]:
    """The usable conversations of a ShareGPT file; ScenarioError names `label` and the entry."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{label}: cannot read the file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{label}: not UTF-8 text; a ShareGPT file is JSON") from None
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{label}: not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise ScenarioError(f"{label}: expected a JSON list of conversations, found a {type(data).__name__}")
    found = []
    for index, entry in enumerate(data):
        conversation = _conversation(entry, f"{label}: entry {index}")
        if conversation is not None:
            found.append(conversation)
    if not found:
        raise ScenarioError(f"{label}: no conversation has a human turn; nothing to ask")
    return tuple(found)


def _conversation(entry: object, where: str) -> RecordedConversation | None:
    if not isinstance(entry, dict):
        raise ScenarioError(f"{where}: must be an object with a 'conversations' list")
    messages = entry.get("conversations")
    if not isinstance(messages, list):
        raise ScenarioError(f"{where}: 'conversations' must be a list")
    questions: list[str] = []
    system: str | None = None
    for position, message in enumerate(messages):
        at = f"{where}: conversations[{position}]"
        if not isinstance(message, dict):
            raise ScenarioError(f"{at} must be an object with 'from' and 'value'")
        speaker, value = message.get("from"), message.get("value")
        if not isinstance(value, str):
            raise ScenarioError(f"{at}: 'value' must be a string")
        if speaker in HUMAN:
            if value.strip():
                questions.append(value)
        elif speaker == SYSTEM:
            system = value if system is None else f"{system}\n\n{value}"
        elif speaker not in MODEL:
            raise ScenarioError(f"{at}: 'from' must be human, gpt or system (got {speaker!r})")
    if not questions:
        return None
    return RecordedConversation(tuple(questions[:MAX_TURNS]), system)
