"""Reading and checking a scenario file: TOML in, a validated `ScenarioSpec` out.

Kept apart from building the scenario (texts, tokens) so that every mistake in a file is found
before any text is read or tokenized, and reported as one line naming the file and the field.
The schema is documented in `harness.scenario.scenario`.
"""

from __future__ import annotations

import difflib
import math
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.scenario.distribution import Distribution, constant, parse_distribution

USER_CONTEXT_KINDS = ("account_record", "source_file", "none")
# Defaults, shared with the ShareGPT import: a person reads for a few seconds, sometimes a minute.
DEFAULT_TURNS = constant(3, integer=True)
DEFAULT_THINK_TIME = Distribution("lognormal", integer=False, mean=8.0, sigma=0.5, low=1.0, high=60.0)
DEFAULT_MAX_TOKENS = constant(256, integer=True)
TOP_LEVEL_KEYS = frozenset(
    {"name", "description", "persona", "system_prompt", "seed", "branch_probability", "turns", "think_time",
     "max_tokens", "min_tokens", "temperature", "top_p", "shared_context", "user_context", "questions"}
)  # fmt: skip
# Keys people put at the top level that live in a table, so the error can say where they go.
_TABLE_OF = {"source": "shared_context", "kind": "user_context", "pool": "questions", "file": "questions"}


class ScenarioError(ValueError):
    """A scenario cannot be used; the message is one line naming the file and what to fix."""


@dataclass(frozen=True)
class QuestionSpec:
    """Where questions come from: a pool (inline or a file, one per line) or templates."""

    pool: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()
    fill: tuple[tuple[str, tuple[str, ...]], ...] = ()  # placeholder name -> choices
    file: Path | None = None


@dataclass(frozen=True)
class ScenarioSpec:
    """Everything a scenario file says, checked, with file paths resolved."""

    label: str  # how errors name the file: the path as the user gave it, or "builtin:<name>"
    name: str
    description: str
    persona: str
    system_prompt: str
    seed: int
    branch_probability: float
    turns: Distribution
    think_time: Distribution
    max_tokens: Distribution
    min_tokens: int | None
    exact_length: bool  # min_tokens = "max_tokens": every answer is exactly its drawn max_tokens
    temperature: float | None
    top_p: float | None
    shared_source: str | None  # a built-in text name, or a file path as written
    shared_path: Path | None  # resolved file, None for a built-in text
    shared_tokens: int | None  # None: use the text as it is
    user_context_kind: str
    user_context_tokens: int
    questions: QuestionSpec


class _Invalid(ValueError):
    """A field problem, before the file's name is put in front of it."""


class _Table:
    """A TOML table being read: typed getters, and unknown keys reported at the end."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data, self.where = data, where
        self.seen: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self.where} {key}" if self.where else key

    def get(self, key: str) -> Any:
        self.seen.add(key)
        return self.data.get(key)

    def string(self, key: str, default: str | None = None) -> str:
        value = self.get(key)
        if value is None:
            if default is None:
                raise _Invalid(f"{self._name(key)} is required")
            return default
        if not isinstance(value, str):
            raise _Invalid(f"{self._name(key)} must be a string")
        return value

    def integer(self, key: str, default: int | None, lowest: int) -> int | None:
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"{self._name(key)} must be a whole number")
        if value < lowest:
            raise _Invalid(f"{self._name(key)} must be at least {lowest}")
        return value

    def number(self, key: str, low: float, high: float) -> float | None:
        value = self.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _Invalid(f"{self._name(key)} must be a number")
        if not low <= value <= high:
            raise _Invalid(f"{self._name(key)} must be between {low:g} and {high:g}")
        return float(value)

    def table(self, key: str) -> _Table | None:
        value = self.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _Invalid(f"{self._name(key)} must be a table, like [{key}]")
        return _Table(value, f"[{self.where[1:-1]}.{key}]" if self.where else f"[{key}]")

    def strings(self, key: str) -> tuple[str, ...] | None:
        value = self.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise _Invalid(f"{self._name(key)} must be a list of non-empty strings")
        return tuple(v.strip() for v in value)

    def distribution(self, key: str, default: Distribution, *, integer: bool, floor: float) -> Distribution:
        value = self.get(key)
        return default if value is None else parse_distribution(value, key, integer=integer, floor=floor)

    def finish(self) -> None:
        for key in self.data:
            if key not in self.seen:
                hint = difflib.get_close_matches(key, list(self.seen), n=1)
                if hint:
                    raise _Invalid(f"{self._name('unknown field')} {key!r} (did you mean {hint[0]!r}?)")
                if not self.where and key in _TABLE_OF:
                    raise _Invalid(f"unknown field {key!r} (it belongs in [{_TABLE_OF[key]}])")
                if self.where and key in TOP_LEVEL_KEYS:
                    raise _Invalid(
                        f"{self._name('unknown field')} {key!r} (top-level keys go before the first [table])"
                    )
                raise _Invalid(f"{self._name('unknown field')} {key!r}")


def read_spec(path: Path, label: str, builtin_texts: tuple[str, ...]) -> ScenarioSpec:
    """Read and check the scenario file at `path`; raise ScenarioError naming `label`."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{label}: no such file; give a built-in scenario name or a path to a .toml file") from None
    except OSError as exc:
        raise ScenarioError(f"{label}: cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{label}: not UTF-8 text; a scenario file is TOML") from None
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{label}: not valid TOML: {' '.join(str(exc).split())}") from None
    try:
        return _spec(data, path, label, builtin_texts)
    except ValueError as exc:  # _Invalid, or a distribution's own one-line ValueError
        raise ScenarioError(f"{label}: {exc}") from None


def _spec(data: dict[str, Any], path: Path, label: str, builtin_texts: tuple[str, ...]) -> ScenarioSpec:
    top = _Table(data, "")
    name = top.string("name", default=path.stem)
    if not name.strip():
        raise _Invalid("name must not be empty")
    description = top.string("description", default="")
    persona = top.string("persona", default="")
    system_prompt = top.string("system_prompt")
    seed = top.integer("seed", 0, lowest=0)
    branch_probability = top.number("branch_probability", 0.0, 1.0) or 0.0
    turns = top.distribution("turns", DEFAULT_TURNS, integer=True, floor=1)
    think_time = top.distribution("think_time", DEFAULT_THINK_TIME, integer=False, floor=0)
    max_tokens = top.distribution("max_tokens", DEFAULT_MAX_TOKENS, integer=True, floor=1)
    min_tokens, exact_length = _min_tokens(top, max_tokens)
    temperature = top.number("temperature", 0.0, 2.0)
    top_p = top.number("top_p", 0.0, 1.0)
    if top_p == 0.0:
        raise _Invalid("top_p must be greater than 0")

    shared_source, shared_path, shared_tokens = None, None, None
    shared = top.table("shared_context")
    if shared is not None:
        shared_source = shared.string("source")
        shared_tokens = shared.integer("tokens", None, lowest=1)
        if shared_source not in builtin_texts:
            shared_path = _existing_file(path, shared_source, "[shared_context] source", builtin_texts)
        shared.finish()

    kind, user_tokens = "none", 0
    user = top.table("user_context")
    if user is not None:
        kind = user.string("kind", default="none")
        if kind not in USER_CONTEXT_KINDS:
            raise _Invalid(f"[user_context] kind must be one of {', '.join(USER_CONTEXT_KINDS)} (got {kind!r})")
        tokens = user.integer("tokens", None, lowest=1)
        if kind != "none" and tokens is None:
            raise _Invalid(f"[user_context] tokens is required for kind {kind!r}")
        user_tokens = (tokens or 0) if kind != "none" else 0
        user.finish()

    table = top.table("questions")
    if table is None:
        raise _Invalid('[questions] is required: give pool = [...], file = "..." or templates = [...]')
    questions = _questions(table, path)
    table.finish()
    top.finish()
    assert seed is not None
    return ScenarioSpec(
        label=label,
        name=name,
        description=description,
        persona=persona,
        system_prompt=system_prompt,
        seed=seed,
        branch_probability=branch_probability,
        turns=turns,
        think_time=think_time,
        max_tokens=max_tokens,
        min_tokens=min_tokens,
        exact_length=exact_length,
        temperature=temperature,
        top_p=top_p,
        shared_source=shared_source,
        shared_path=shared_path,
        shared_tokens=shared_tokens,
        user_context_kind=kind,
        user_context_tokens=user_tokens,
        questions=questions,
    )


def _min_tokens(top: _Table, max_tokens: Distribution) -> tuple[int | None, bool]:
    value = top.get("min_tokens")
    if value is None:
        return None, False
    if value == "max_tokens":
        return None, True
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Invalid('min_tokens must be a whole number of at least 0, or "max_tokens" for exact lengths')
    highest = max_tokens.value if max_tokens.kind == "constant" else max_tokens.high
    if highest is not None and value > highest:
        raise _Invalid("min_tokens must not be greater than max_tokens")
    return value, False


def _questions(table: _Table, path: Path) -> QuestionSpec:
    pool = table.strings("pool")
    file = table.get("file")
    templates = table.strings("templates")
    given = [k for k, v in (("pool", pool), ("file", file), ("templates", templates)) if v is not None]
    if len(given) != 1:
        raise _Invalid("[questions] needs exactly one of pool, file or templates")
    if pool is not None:
        if not pool:
            raise _Invalid("[questions] pool must not be empty")
        return QuestionSpec(pool=pool)
    if file is not None:
        if not isinstance(file, str):
            raise _Invalid("[questions] file must be a string")
        resolved = _existing_file(path, file, "[questions] file", ())
        lines = _read(resolved, "[questions] file").splitlines()
        found = tuple(q.strip() for q in lines if q.strip() and not q.lstrip().startswith("#"))
        if not found:
            raise _Invalid(f"[questions] file {file!r} has no questions (one per line; # starts a comment)")
        return QuestionSpec(pool=found, file=resolved)
    if not templates:
        raise _Invalid("[questions] templates must not be empty")
    fill_table = table.table("fill")
    fill: list[tuple[str, tuple[str, ...]]] = []
    if fill_table is not None:
        for key in fill_table.data:
            choices = fill_table.strings(key)
            if not choices:
                raise _Invalid(f"[questions.fill] {key} must be a non-empty list of strings")
            fill.append((key, choices))
    names = {k for k, _ in fill}
    for template in templates:
        for placeholder in _placeholders(template):
            if placeholder not in names:
                raise _Invalid(
                    f"[questions] template {template!r} uses {{{placeholder}}}, "
                    f"but [questions.fill] has no {placeholder!r}"
                )
    return QuestionSpec(templates=templates, fill=tuple(fill))


def _placeholders(template: str) -> list[str]:
    try:
        return [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as exc:
        raise _Invalid(f"[questions] template {template!r} is not a valid template: {exc}") from None


def _existing_file(scenario_path: Path, given: str, field: str, builtin_texts: tuple[str, ...]) -> Path:
    resolved = Path(given).expanduser()
    if not resolved.is_absolute():
        resolved = scenario_path.parent / resolved  # relative to the scenario file, not the cwd
    if resolved.is_file():
        return resolved
    if builtin_texts:
        raise _Invalid(f"{field} {given!r} is neither a built-in text ({', '.join(builtin_texts)}) nor a file")
    raise _Invalid(f"{field} {given!r} is not a file (paths are relative to the scenario file)")


def _read(path: Path, field: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _Invalid(f"{field} {str(path)!r} cannot be read: {exc}") from None
