"""What a missing cached-token figure means: one rule, which requests.csv and every reader of it share.

SGLang 0.5 answers `prompt_tokens_details: null` when nothing was cached (deploy.engines:
`nothing_cached_is_null`). One turn cannot tell that apart from "the server does not report cached
tokens", so the client records it as not reported (harness.client.dialect.cached_tokens). Across a
run it can be told apart, and it must be: a cached share over the turns that reported a figure drops
SGLang's cache misses from its denominator, and flatters SGLang only.

The rule: for an engine whose `nothing_cached_is_null` is true, with cache reporting on, a
successful turn with usage but no cached figure had 0 tokens cached. Reporting is on when the
server's own flags say so (the engine's `cached_tokens_setting` in its `version_path` answer), or
else once any turn of the run has reported a cached figure.

The master applies it to every row as it writes requests.csv (harness.recording.turn_rows), so
the file, the web UI's totals, the run's summary and index.csv and the report see one number.
Rows written before a run without readable flags showed a figure stay empty; `share` counts an
empty cell of a successful turn as 0 once the run reported any figure, so readers agree on those
too: the cached share is cached over prompt tokens of the successful turns with prompt tokens.
This module is harness-side and Locust-free, so the analysis asks it too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deploy.engines import ENGINES


@dataclass(frozen=True)
class CachedRule:
    nothing_cached_is_null: bool  # the engine's quirk (deploy.engines)
    reporting: bool | None  # cache reporting is on (True), off (False) or not known yet (None)

    @classmethod
    def for_server(cls, server: Mapping[str, Any]) -> CachedRule:
        """From harness.client.server.server_info: which engine, and what its flags say."""
        engine = ENGINES.get(str(server.get("engine") or ""))
        if engine is None:
            return cls(False, None)
        return cls(engine.nothing_cached_is_null, reporting_flag(engine.cached_tokens_setting, server.get("details")))

    def learned(self, reported: bool) -> CachedRule:
        """The rule once the run's turns are seen: a cached figure proves that reporting is on,
        whatever the flags said."""
        if reported and not self.reporting:
            return dataclasses.replace(self, reporting=True)
        return self

    def cached(self, ok: bool, prompt_tokens: int | None, cached_tokens: int | None) -> int | None:
        """The cached tokens to record for one turn; None stays "not reported"."""
        if cached_tokens is not None or not ok or prompt_tokens is None:
            return cached_tokens
        return 0 if self.nothing_cached_is_null and self.reporting else None


# Nothing known of the engine: missing figures stay missing.
UNKNOWN = CachedRule(nothing_cached_is_null=False, reporting=None)


def reporting_flag(setting: str | None, details: object) -> bool | None:
    """Whether the server says its cache reporting is on; None when it does not say.

    SGLang 0.5's /get_server_info spreads its ServerArgs at the top level; a nested `server_args`
    (as some routers and later releases show it) is read too.
    """
    if not setting or not isinstance(details, Mapping):
        return None
    for where in (details, details.get("server_args")):
        if isinstance(where, Mapping) and isinstance(where.get(setting), bool):
            return bool(where[setting])
    return None


def counts(ok: bool, prompt_tokens: object) -> bool:
    """Whether a turn is in the cached share at all: successful, with the prompt size reported."""
    return ok and prompt_tokens not in (None, "")


def share(cached_tokens: float, prompt_tokens: float, reported: bool) -> float | None:
    """Cached over prompt tokens, summed over the turns that `counts`, empty cached cells as 0.

    None ("not reported") when no turn of the run reported a cached figure, or none counted.
    """
    if not reported or prompt_tokens <= 0:
        return None
    return cached_tokens / prompt_tokens
