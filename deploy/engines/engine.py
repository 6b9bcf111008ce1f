"""`Engine`: what turnbench knows about one serving engine, as one frozen value.

The facts are the ones more than one stage needs to agree on: the client asks the server which
engine it is (`owned_by`) and what version (`version_path`), `compare` flushes its prefix cache,
the scraper maps its Prometheus names to one vocabulary, deploy launches it with cached-token
reporting and metrics on, and the emulator serves all of it. Byte-level wire shapes stay with the
code that reads them (harness.client.dialect) or writes them (deploy.emulator.dialects).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

# The shared vocabulary of server_metrics.csv's `common` column (harness.recording.run_dir).
COMMON_METRICS = (
    "running",
    "waiting",
    "kv_usage",
    "prompt_tokens_total",
    "cached_tokens_total",
    "generation_tokens_total",
    "cache_hit_rate",
)


@dataclass(frozen=True)
class Engine:
    """One engine's facts; each engine module (vllm.py, sglang.py, openai.py) defines one."""

    name: str  # as targets.toml, --engine and run.json spell it
    owned_by: str | None  # what its /v1/models cards say in `owned_by`; None: not recognisable by them
    version_path: str | None  # GET: JSON whose "version" is the engine's own; None: no such endpoint
    flush_path: str | None  # POST: drop the whole prefix cache; None: no such endpoint
    # The key sent with a flush as `Authorization: Bearer`: the target's API key; its admin key when
    # it has one, else its API key ("admin_api_key"); or none.
    flush_key: Literal["api_key", "admin_api_key", "none"]
    metric_prefix: str  # every engine metric turnbench keeps starts with it; "" when none is read
    # Prometheus name as scraped (counters with `_total`) -> COMMON_METRICS name; the current name of
    # each quantity first, older releases' names after it.
    metric_names: Mapping[str, str]
    # Counters of prefix-cache lookups, in tokens (current name first), from which the hit rate
    # between two scrapes is derived; empty when the engine reports a hit-rate gauge of its own.
    prefix_cache_queries: tuple[str, ...]
    reasoning_field: str | None  # the delta field its reasoning text arrives in; None: it varies
    cached_tokens_flag: str | None  # launch flag for usage.prompt_tokens_details.cached_tokens
    # The field of the `version_path` answer that says whether that flag is on; None: the server
    # does not say, and a run can only tell from its own turns (harness.recording.cached_rule).
    cached_tokens_setting: str | None
    # True when a turn with nothing cached reports `prompt_tokens_details: null`, not cached_tokens 0.
    nothing_cached_is_null: bool
    metrics_flag: str | None  # launch flag without which /metrics is not served; None: always served

    def __post_init__(self) -> None:
        unknown = set(self.metric_names.values()) - set(COMMON_METRICS)
        if unknown:
            raise ValueError(f"{self.name}: metric_names maps to unknown common names {sorted(unknown)}")

    def metric(self, common: str) -> str:
        """The engine's current Prometheus name for a common quantity."""
        return self.metrics_named(common)[0]

    def metrics_named(self, common: str) -> tuple[str, ...]:
        """Every name (current first, then older releases') the engine has used for a common quantity."""
        names = tuple(name for name, mapped in self.metric_names.items() if mapped == common)
        if not names:
            raise KeyError(f"{self.name} reports no {common!r} metric")
        return names

    def flush_headers(self, api_key: str | None, admin_api_key: str | None = None) -> dict[str, str]:
        """The headers of a flush request, given the target's API key and admin key (None when it has none)."""
        key = None
        if self.flush_key == "api_key":
            key = api_key
        elif self.flush_key == "admin_api_key":
            key = admin_api_key or api_key
        return {"Authorization": f"Bearer {key}"} if key else {}
