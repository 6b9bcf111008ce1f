"""The service-level objective a conversation and a load level are held to.

Given as {"ttft_p95_ms": 2000, "e2e_p95_ms": 30000} (either key may be left out). A conversation
meets it when every one of its turns succeeded within both bounds; a load level of a ramp meets it
when its TTFT p95 and E2E p95 are within them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from analysis.errors import AnalysisError

KEYS = ("ttft_p95_ms", "e2e_p95_ms")
DEFAULT = {"ttft_p95_ms": 2000.0, "e2e_p95_ms": 30000.0}  # an interactive chat; used when none is given


@dataclass(frozen=True)
class Slo:
    ttft_ms: float  # inf when not given
    e2e_ms: float
    is_default: bool = False

    @classmethod
    def parse(cls, values: Mapping[str, float] | None) -> Slo:
        if values is None:
            return cls(DEFAULT["ttft_p95_ms"], DEFAULT["e2e_p95_ms"], is_default=True)
        for key, value in values.items():
            if key not in KEYS:
                raise AnalysisError(f"--slo: unknown key {key!r}; use {' and/or '.join(KEYS)}")
            if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
                raise AnalysisError(f"--slo: {key} must be a positive number of milliseconds, got {value!r}")
        if not values:
            raise AnalysisError(f"--slo: give at least one of {', '.join(KEYS)}")
        return cls(float(values.get("ttft_p95_ms", math.inf)), float(values.get("e2e_p95_ms", math.inf)))

    def describe(self) -> str:
        parts = []
        if math.isfinite(self.ttft_ms):
            parts.append(f"TTFT <= {self.ttft_ms:g} ms")
        if math.isfinite(self.e2e_ms):
            parts.append(f"E2E <= {self.e2e_ms:g} ms")
        text = " and ".join(parts)
        return f"{text} (default; set with --slo)" if self.is_default else text

    def as_dict(self) -> dict[str, float | None]:
        return {
            "ttft_p95_ms": self.ttft_ms if math.isfinite(self.ttft_ms) else None,
            "e2e_p95_ms": self.e2e_ms if math.isfinite(self.e2e_ms) else None,
        }

    def level_met(self, ttft_p95_ms: float, e2e_p95_ms: float) -> bool:
        return bool(ttft_p95_ms <= self.ttft_ms and e2e_p95_ms <= self.e2e_ms)
