"""`KEY=VALUE` items on a command line (`--slo ttft_p95_ms=2000`, `--price vllm=7.98`): one way to read them.

Each caller names its option, an example and its stage's error type, so a mistake is one line in
that stage's words: "--slo: expected KEY=VALUE like ttft_p95_ms=2000, got 'ttft_p95_ms'".
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def text_pairs(
    items: Iterable[str], option: str, example: str, error: type[Exception], hint: str = ""
) -> dict[str, str]:
    """KEY=VALUE items into a dict of their texts, in order; a later KEY wins. `hint` ends the error."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise error(f"{option}: expected KEY=VALUE like {example}, got {item!r}{hint}")
        pairs[key.strip()] = text.strip()
    return pairs


def number_pairs(
    items: Iterable[str], option: str, example: str, error: type[Exception], hint: str = ""
) -> dict[str, float]:
    """KEY=NUMBER items into a dict of finite numbers."""
    pairs = text_pairs(items, option, example, error, hint)
    return {key: finite_number(text, f"{option}: {key}", error) for key, text in pairs.items()}


def finite_number(text: object, where: str, error: type[Exception]) -> float:
    if isinstance(text, bool):  # TOML's `true` is not a number of milliseconds
        raise error(f"{where}: {text!r} is not a number")
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise error(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise error(f"{where}: {text!r} is not a finite number")
    return value
