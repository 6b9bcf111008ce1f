"""Seeded distributions for turns, think time and output length, as a scenario file spells them.

A field is a number (shorthand for a constant) or a table:
    {dist = "constant", value = 3}
    {dist = "uniform", min = 2, max = 6}                          # inclusive; integers for integer fields
    {dist = "lognormal", mean = 8.0, sigma = 0.5, min = 1, max = 60}
    {dist = "poisson", mean = 4, min = 1}

For `lognormal`, `mean` is the mean of the distribution itself (in seconds or tokens, not of its
logarithm) and `sigma` the standard deviation of its logarithm; long tails are what real think
times and answer lengths look like. `min` and `max` clamp a draw (optional for lognormal and
poisson). Integer fields round each draw. Every draw comes from the `random.Random` the caller
passes, so a seed reproduces a conversation exactly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

KINDS = ("constant", "uniform", "lognormal", "poisson")
_KEYS = {
    "constant": {"dist", "value"},
    "uniform": {"dist", "min", "max"},
    "lognormal": {"dist", "mean", "sigma", "min", "max"},
    "poisson": {"dist", "mean", "min", "max"},
}
POISSON_EXACT_MAX_MEAN = 30.0  # above this Knuth's method gets slow; a rounded normal is as good


@dataclass(frozen=True)
class Distribution:
    """One field's distribution; `integer` fields draw whole numbers."""

    kind: str
    integer: bool
    value: float = 0.0
    mean: float = 0.0
    sigma: float = 0.0
    low: float | None = None
    high: float | None = None

    def draw(self, rng: random.Random) -> float:
        if self.kind == "constant":
            return self.value
        if self.kind == "uniform":
            assert self.low is not None and self.high is not None
            if self.integer:
                return float(rng.randint(int(self.low), int(self.high)))
            return rng.uniform(self.low, self.high)
        if self.kind == "lognormal":
            # mean of a lognormal is exp(mu + sigma^2 / 2); solve for mu so `mean` means the mean.
            x = rng.lognormvariate(math.log(self.mean) - self.sigma**2 / 2, self.sigma)
        else:
            x = float(_poisson(rng, self.mean))
        if self.integer:
            x = float(round(x))
        if self.low is not None:
            x = max(self.low, x)
        if self.high is not None:
            x = min(self.high, x)
        return x

    def draw_int(self, rng: random.Random) -> int:
        return round(self.draw(rng))

    def describe(self) -> dict[str, object]:
        """The distribution as a scenario file would write it, for run.json."""

        def num(x: float) -> float | int:
            return int(x) if self.integer or float(x).is_integer() else x

        if self.kind == "constant":
            return {"dist": "constant", "value": num(self.value)}
        out: dict[str, object] = {"dist": self.kind}
        if self.kind != "uniform":
            out["mean"] = self.mean
        if self.kind == "lognormal":
            out["sigma"] = self.sigma
        if self.low is not None:
            out["min"] = num(self.low)
        if self.high is not None:
            out["max"] = num(self.high)
        return out


def constant(value: float, integer: bool) -> Distribution:
    return Distribution("constant", integer, value=value)


def parse_distribution(raw: Any, field: str, *, integer: bool, floor: float) -> Distribution:
    """Check a distribution field; raise ValueError with a one-line reason naming `field`.

    `floor` is the smallest sensible value (1 turn, 0 seconds): a `min` below it is an error and
    an open lower bound is closed at it, so no draw is ever impossible to act on.
    """
    where = f"[{field}]"
    if isinstance(raw, bool) or not isinstance(raw, int | float | dict):
        raise ValueError(f'{where} must be a number or a table like {{dist = "constant", value = 3}}')
    if not isinstance(raw, dict):
        raw = {"dist": "constant", "value": raw}
    kind = raw.get("dist")
    if kind not in KINDS:
        raise ValueError(f"{where} dist must be one of {', '.join(KINDS)} (got {kind!r})")
    for key in raw:
        if key not in _KEYS[kind]:
            raise ValueError(
                f"{where} unknown field {key!r} for dist {kind!r}; allowed: {', '.join(sorted(_KEYS[kind]))}"
            )

    def number(key: str, required: bool) -> float | None:
        if key not in raw:
            if required:
                raise ValueError(f"{where} dist {kind!r} needs {key!r}")
            return None
        x = raw[key]
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
            raise ValueError(f"{where} {key} must be a number")
        if integer and key != "sigma" and key != "mean" and not float(x).is_integer():
            raise ValueError(f"{where} {key} must be a whole number")
        return float(x)

    def at_least_floor(key: str, x: float) -> None:
        if x < floor:
            raise ValueError(f"{where} {key} must be at least {_show(floor)}")

    if kind == "constant":
        value = number("value", True)
        assert value is not None
        at_least_floor("value", value)
        return constant(value, integer)
    low = number("min", kind == "uniform")
    high = number("max", kind == "uniform")
    if low is not None:
        at_least_floor("min", low)
    if high is not None:
        at_least_floor("max", high)
    if low is not None and high is not None and low > high:
        raise ValueError(f"{where} min must not be greater than max")
    if kind == "uniform":
        return Distribution(kind, integer, low=low, high=high)
    mean = number("mean", True)
    assert mean is not None
    if mean <= 0:
        raise ValueError(f"{where} mean must be greater than 0")
    sigma = 0.0
    if kind == "lognormal":
        s = number("sigma", True)
        assert s is not None
        if s < 0:
            raise ValueError(f"{where} sigma must not be negative")
        sigma = s
    return Distribution(kind, integer, mean=mean, sigma=sigma, low=floor if low is None else low, high=high)


def _show(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > POISSON_EXACT_MAX_MEAN:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:  # Knuth: count uniforms until their product drops below e^-mean
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
