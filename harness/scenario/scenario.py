'''Scenarios: a kind of person and the conversations they hold, declared in a TOML file.

A scenario says who the person is, what every user shares (the system prompt and a shared
document: the prefix a cache can reuse across users), what each user brings alone (an account
record, their own source file), what they ask, how many turns they take, how long they think,
how long the answers are, and how often they fork the conversation. Everything that needs a
tokenizer is done once, when the scenario loads; `plan` and `system_message` only draw numbers
and look up prepared text, so nothing on the request path tokenizes.

Built-ins: `support`, `coding`, `shared-context` (harness/scenario/builtin/*.toml). Also:
`load_scenario("path/to/file.toml", ...)` and `load_scenario("sharegpt:/path/file.json", ...)`.

The file (top-level keys must come before the first [table]):

    name = "support"                   # default: the file name without .toml
    description = "..."                # one line for reports
    persona = "..."                    # who the person is, one line
    system_prompt = """..."""          # required: the instructions, first in the system message
    seed = 1                           # per-user contexts derive from it; default 0
    branch_probability = 0.05          # per turn after the first: regenerate or edit; default 0
    max_tokens = 200                   # a whole number or a distribution; default 256
    min_tokens = 200                   # whole number, or "max_tokens" for exactly max_tokens; default none
    temperature = 0.7                  # 0..2; default: the server's
    top_p = 0.95                       # (0, 1]; default: the server's
    turns = 4                          # or a [turns] table; whole numbers, at least 1; default 3
    think_time = {dist = "uniform", min = 2, max = 5}   # seconds before each turn, turn 1 too;
                                       # default lognormal mean 8, sigma 0.5, min 1, max 60

    [shared_context]                   # optional: the document every user shares
    source = "shop-policies"           # a built-in text (kv-store-design, shop-policies,
                                       # stdlib-sources) or a file, relative to this file
    tokens = 4000                      # exact size (lengthened by numbered section repeats, or cut);
                                       # omit to use the text as it is

    [user_context]                     # optional: what each user alone brings, after the shared part
    kind = "account_record"            # account_record | source_file | none
    tokens = 300                       # exact size; required unless kind = "none"

    [questions]                        # required: exactly one of
    pool = ["...", "..."]              #   the questions themselves
    file = "texts/questions.txt"       #   one question per line; blank lines and # comments skipped
    templates = ["How do I {task} in {tool}?"]   # generated: a template, then a choice per {name}
    [questions.fill]                   #   from these lists
    task = ["...", "..."]
    tool = ["...", "..."]

Distributions (harness.scenario.distribution): a number, or {dist = "constant", value = 3},
{dist = "uniform", min = 2, max = 6}, {dist = "lognormal", mean = 8.0, sigma = 0.5, min = 1,
max = 60} (mean of the distribution itself; sigma of its log), {dist = "poisson", mean = 4, min = 1}.

The system message is `system_prompt`, a blank line, the shared context, a blank line, the user's
context. Everything up to the end of the shared context is identical for every user; the user's
context is the same for the same user index and seed. Unknown keys are errors, and every error is
one line naming the file and the field (`ScenarioError`).

ShareGPT (`sharegpt:/path/file.json`): each conversation replays the human turns of one recorded
conversation drawn by the rng (at most 20), with its system turn as the system prompt
(`ConversationPlan.system_prompt`). No shared or per-user context, no branches, default
think time (lognormal mean 8 s, sigma 0.5, 1..60 s), max_tokens 256, no min_tokens, the server's
sampling defaults, seed 0.
'''

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.scenario.distribution import Distribution
from harness.scenario.plan import Branch, ConversationPlan, Pacing, PlannedTurn, plan_conversation
from harness.scenario.questions import Questions
from harness.scenario.sharegpt import MAX_TURNS, RecordedConversation, read_sharegpt
from harness.scenario.spec import DEFAULT_MAX_TOKENS, DEFAULT_THINK_TIME, ScenarioError, ScenarioSpec, read_spec
from harness.scenario.texts import BUILTIN_TEXTS, CHARS_PER_TOKEN_CEILING, sized
from harness.scenario.tokenizer import PromptTokenizer, load_tokenizer
from harness.scenario.user_context import GENERATORS

__all__ = [
    "Branch",
    "ConversationPlan",
    "PlannedTurn",
    "Scenario",
    "ScenarioError",
    "builtin_scenarios",
    "load_scenario",
    "shared_scenario",
]

log = logging.getLogger(__name__)

SCENARIOS_DIR = Path(__file__).parent / "builtin"
SHAREGPT_PREFIX = "sharegpt:"
PART_SEPARATOR = "\n\n"  # between instructions, shared context and user context


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario: prepared prompt text plus the distributions conversations are drawn from."""

    name: str
    description: str
    persona: str
    source: str  # the file path, "builtin:<name>" or "sharegpt:<path>"
    temperature: float | None
    top_p: float | None
    branch_probability: float
    seed: int
    tokenizer_name: str
    exact_tokens: bool  # False: token sizes are estimates (no tokenizer available offline)
    tokenizer_description: str
    system_prompt: str
    shared_context: str  # the document as placed in the system message, sized to `shared_context_tokens`
    shared_context_source: str | None
    shared_context_tokens: int
    user_context_kind: str
    user_context_tokens: int
    turns: Distribution | None  # None: as many as the recorded conversation has (ShareGPT)
    pacing: Pacing
    questions: Questions | None
    recorded: tuple[RecordedConversation, ...] = ()
    _tokenizer: PromptTokenizer | None = field(default=None, repr=False, compare=False)
    _shared_part: str = field(default="", repr=False, compare=False)
    _shared_part_tokens: int = field(default=0, repr=False, compare=False)
    _messages: dict[int, str] = field(default_factory=dict, repr=False, compare=False)

    def system_message(self, user_index: int) -> str:
        """Instructions, shared context, then this user's context; empty means send none.

        Memoised: the first call for a user index fits that user's context to its token size
        (about a millisecond). Call it when a user starts, or `prepare` them all at start-up.
        """
        message = self._messages.get(user_index)
        if message is None:
            message = self._shared_part
            make = GENERATORS.get(self.user_context_kind)
            if make is not None and self._tokenizer is not None:
                raw = make(self.seed, user_index, self.user_context_tokens * CHARS_PER_TOKEN_CEILING)
                user = self._tokenizer.fit(raw, self.user_context_tokens)
                message = f"{message}{PART_SEPARATOR}{user}" if message else user
            self._messages[user_index] = message
        return message

    def prepare(self, users: int) -> None:
        """Build the system messages of user indices 0..users-1 now, before any request is sent."""
        for index in range(users):
            self.system_message(index)

    def shared_prefix_tokens(self) -> int:
        """Tokens of the system-message text every user shares (instructions + shared context).

        The chat template's own tokens before it (a handful) are not included.
        """
        return self._shared_part_tokens

    def tokens_in(self, text: str) -> int:
        """Tokens of a text on its own (a salt), in the scenario's tokenizer; at start-up only."""
        return self._tokenizer.count(text) if self._tokenizer is not None else 0

    def plan(self, rng: random.Random) -> ConversationPlan:
        """One conversation: turns, questions, think times, output lengths and branch points."""
        if self.recorded:
            recorded = rng.choice(self.recorded)
            plan = plan_conversation(rng, list(recorded.questions), self.pacing, self.branch_probability)
            return ConversationPlan(plan.turns, system_prompt=recorded.system_prompt)
        assert self.turns is not None and self.questions is not None
        questions = self.questions.deal(rng, self.turns.draw_int(rng))
        return plan_conversation(rng, questions, self.pacing, self.branch_probability)

    def describe(self) -> dict[str, object]:
        """What this scenario is, for run.json: enough to reproduce or compare a run."""
        return {
            "name": self.name,
            "description": self.description,
            "persona": self.persona,
            "source": self.source,
            "seed": self.seed,
            "tokenizer": self.tokenizer_name,
            "tokenizer_description": self.tokenizer_description,
            "exact_tokens": self.exact_tokens,
            "shared_context": {"source": self.shared_context_source, "tokens": self.shared_context_tokens},
            "shared_prefix_tokens": self.shared_prefix_tokens(),
            "user_context": {"kind": self.user_context_kind, "tokens": self.user_context_tokens},
            "questions": self.questions.describe()
            if self.questions
            else {"recorded_conversations": len(self.recorded)},
            "turns": self.turns.describe() if self.turns else {"from": "recorded conversation", "max": MAX_TURNS},
            **self.pacing.describe(),
            "temperature": self.temperature,
            "top_p": self.top_p,
            "branch_probability": self.branch_probability,
        }


def builtin_scenarios() -> list[str]:
    """Names of the scenarios that ship with turnbench."""
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.toml"))


def load_scenario(name_or_path: str, tokenizer: PromptTokenizer) -> Scenario:
    """A built-in by name, a TOML file, or "sharegpt:<file.json>", with all its text prepared."""
    started = time.perf_counter()
    if name_or_path.startswith(SHAREGPT_PREFIX):
        scenario = _sharegpt(name_or_path[len(SHAREGPT_PREFIX) :], tokenizer)
    else:
        if name_or_path in builtin_scenarios():
            path, label = SCENARIOS_DIR / f"{name_or_path}.toml", f"builtin:{name_or_path}"
        else:
            path, label = Path(name_or_path), name_or_path
            if not path.exists() and path.suffix != ".toml" and "/" not in name_or_path:
                choices = ", ".join(builtin_scenarios())
                raise ScenarioError(
                    f"{name_or_path}: no such scenario; use a built-in ({choices}), a .toml file "
                    "or sharegpt:/path/file.json"
                )
        spec = read_spec(path, label, tuple(sorted(BUILTIN_TEXTS)))
        scenario = _build(spec, label if label.startswith("builtin:") else str(path), tokenizer)
    log.info(
        "scenario %s loaded in %.2f s: shared prefix %d tokens (%s)",
        scenario.name,
        time.perf_counter() - started,
        scenario.shared_prefix_tokens(),
        tokenizer.describe(),
    )
    return scenario


def _build(spec: ScenarioSpec, source: str, tokenizer: PromptTokenizer) -> Scenario:
    shared_context, shared_tokens = "", 0
    if spec.shared_source is not None:
        try:
            text = (
                spec.shared_path.read_text(encoding="utf-8")
                if spec.shared_path
                else BUILTIN_TEXTS[spec.shared_source]()
            )
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(
                f"{spec.label}: [shared_context] source {spec.shared_source!r} cannot be read: {exc}"
            ) from None
        if not text.strip():
            raise ScenarioError(f"{spec.label}: [shared_context] source {spec.shared_source!r} is empty")
        shared_context = sized(text, spec.shared_tokens, tokenizer)
        shared_tokens = tokenizer.count(shared_context)
    shared_part = PART_SEPARATOR.join(p for p in (spec.system_prompt.strip(), shared_context) if p)
    return Scenario(
        name=spec.name,
        description=spec.description,
        persona=spec.persona,
        source=source,
        temperature=spec.temperature,
        top_p=spec.top_p,
        branch_probability=spec.branch_probability,
        seed=spec.seed,
        tokenizer_name=tokenizer.name,
        exact_tokens=tokenizer.exact,
        tokenizer_description=tokenizer.describe(),
        system_prompt=spec.system_prompt.strip(),
        shared_context=shared_context,
        shared_context_source=spec.shared_source,
        shared_context_tokens=shared_tokens,
        user_context_kind=spec.user_context_kind,
        user_context_tokens=spec.user_context_tokens,
        turns=spec.turns,
        pacing=Pacing(spec.think_time, spec.max_tokens, spec.min_tokens, spec.exact_length),
        questions=Questions.from_spec(spec.questions),
        _tokenizer=tokenizer,
        _shared_part=shared_part,
        _shared_part_tokens=tokenizer.count(shared_part),
    )


def _sharegpt(path: str, tokenizer: PromptTokenizer) -> Scenario:
    recorded = read_sharegpt(Path(path), path)
    return Scenario(
        name="sharegpt",
        description=f"Recorded ShareGPT conversations from {path}",
        persona="a ShareGPT user replaying their own questions",
        source=f"{SHAREGPT_PREFIX}{path}",
        temperature=None,
        top_p=None,
        branch_probability=0.0,
        seed=0,
        tokenizer_name=tokenizer.name,
        exact_tokens=tokenizer.exact,
        tokenizer_description=tokenizer.describe(),
        system_prompt="",
        shared_context="",
        shared_context_source=None,
        shared_context_tokens=0,
        user_context_kind="none",
        user_context_tokens=0,
        turns=None,
        pacing=Pacing(DEFAULT_THINK_TIME, DEFAULT_MAX_TOKENS, None, False),
        questions=None,
        recorded=recorded,
        _tokenizer=tokenizer,
    )


_shared: dict[tuple[str, str], Scenario] = {}


def shared_scenario(name: str, tokenizer: str) -> Scenario:
    """One Scenario per process: built (and tokenized) once, before the first turn."""
    key = (name, tokenizer)
    if key not in _shared:
        _shared[key] = load_scenario(name, load_tokenizer(tokenizer or None))
    return _shared[key]
