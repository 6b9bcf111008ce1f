"""The service-level objective: the per-turn latency and failure rate a conversation's users accept.

One vocabulary for `turnbench run`'s gates, the report's verdicts (a conversation met the SLO, a
load level held it) and the capacity search: `ttft_p95_ms`, `tpot_p95_ms`, `e2e_p95_ms` (bounds on
the 95th percentile of turns, in milliseconds), `failure_rate` (a share of turns, 0-1) and
`per_turn` (gates judge each turn number on its own too). The same keys are `--slo KEY=VALUE`
items and a config file's `[slo]` table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace

from harness.key_value import finite_number, text_pairs

LATENCY_KEYS = ("ttft_p95_ms", "e2e_p95_ms", "tpot_p95_ms")
KEYS = (*LATENCY_KEYS, "failure_rate", "per_turn")
EXAMPLE = "ttft_p95_ms=2000"


class SloError(ValueError):
    """An objective that cannot be used; one line naming where it came from and the key."""


@dataclass(frozen=True)
class Slo:
    ttft_p95_ms: float | None = None
    tpot_p95_ms: float | None = None
    e2e_p95_ms: float | None = None
    failure_rate: float | None = None
    per_turn: bool = False
    is_default: bool = False  # nobody set it: reports say so next to every verdict

    @classmethod
    def from_mapping(cls, values: Mapping[str, object], where: str = "--slo") -> Slo:
        """From a `[slo]` table or parsed items; every value checked, one line per mistake."""
        checked: dict[str, object] = {}
        for key, value in values.items():
            if key not in KEYS:
                raise SloError(f"{where}: unknown key {key!r}; use {', '.join(KEYS)}")
            if key == "per_turn":
                checked[key] = _flag(value, f"{where}: per_turn")
                continue
            number = finite_number(value, f"{where}: {key}", SloError)
            if not number > 0 or (key == "failure_rate" and number > 1):
                wanted = "a share between 0 and 1" if key == "failure_rate" else "a positive number of milliseconds"
                raise SloError(f"{where}: {key} must be {wanted}, got {value!r}")
            checked[key] = number
        return cls(**checked)  # type: ignore[arg-type]

    @classmethod
    def parse(cls, items: Iterable[str], option: str = "--slo", hint: str = "") -> Slo:
        """`KEY=VALUE` items from a command line."""
        return cls.from_mapping(text_pairs(items, option, EXAMPLE, SloError, hint), option)

    def merged(self, other: Slo) -> Slo:
        """This objective with every key that `other` sets replaced (a flag overrides a config file)."""
        given = {f.name: getattr(other, f.name) for f in fields(other) if f.name in KEYS and _set(other, f.name)}
        return replace(self, **given)

    @property
    def bounds(self) -> dict[str, float]:
        """The keys that are set, with their limits (per_turn is how to judge, not a bound)."""
        return {key: float(getattr(self, key)) for key in KEYS[:-1] if getattr(self, key) is not None}

    # Bounds as numbers a comparison can use directly: a bound nobody set is infinitely loose.
    @property
    def ttft_ms(self) -> float:
        return math.inf if self.ttft_p95_ms is None else self.ttft_p95_ms

    @property
    def tpot_ms(self) -> float:
        return math.inf if self.tpot_p95_ms is None else self.tpot_p95_ms

    @property
    def e2e_ms(self) -> float:
        return math.inf if self.e2e_p95_ms is None else self.e2e_p95_ms

    def describe(self) -> str:
        names = {"ttft_p95_ms": "TTFT", "e2e_p95_ms": "E2E", "tpot_p95_ms": "TPOT"}
        parts = [f"{n} <= {getattr(self, key):g} ms" for key, n in names.items() if getattr(self, key) is not None]
        if self.failure_rate is not None:
            parts.append(f"failures <= {self.failure_rate:.1%}")
        text = " and ".join(parts) or "none"
        return f"{text} (default; set with --slo)" if self.is_default else text

    def as_dict(self) -> dict[str, float | None]:
        return {key: getattr(self, key) for key in KEYS[:-1]}

    def level_met(self, ttft_p95_ms: float, e2e_p95_ms: float, tpot_p95_ms: float = math.nan,
                  failure_rate: float = math.nan) -> bool:  # fmt: skip
        """A load level holds the SLO: every bound that is set holds (a bound on a missing figure fails)."""
        figures = {"ttft_p95_ms": ttft_p95_ms, "tpot_p95_ms": tpot_p95_ms, "e2e_p95_ms": e2e_p95_ms,
                   "failure_rate": failure_rate}  # fmt: skip
        return all(figures[key] <= limit for key, limit in self.bounds.items())


# An interactive chat, used when nobody gave an objective: the first token within 2 s, then at least
# 10 tokens/s, the whole answer within 30 s, at most 1 turn in 100 failing. Every report says so.
DEFAULT_SLO = Slo(ttft_p95_ms=2000.0, tpot_p95_ms=100.0, e2e_p95_ms=30000.0, failure_rate=0.01, is_default=True)


def _set(slo: Slo, key: str) -> bool:
    return bool(slo.per_turn) if key == "per_turn" else getattr(slo, key) is not None


def _flag(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("1", "true", "yes"):
        return True
    if str(value).lower() in ("0", "false", "no"):
        return False
    raise SloError(f"{where}: expected true or false, got {value!r}")
