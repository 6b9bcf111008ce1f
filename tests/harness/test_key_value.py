"""KEY=VALUE items: one reader for --slo and --price, errors in the caller's words."""

from __future__ import annotations

import pytest

from harness.key_value import number_pairs, text_pairs


class StageError(Exception):
    pass


def test_pairs_keep_their_order_and_a_later_key_wins() -> None:
    assert text_pairs(["b=1", "a = x", "b=2"], "--opt", "a=1", StageError) == {"b": "2", "a": "x"}
    assert number_pairs(["vllm=7.98", "sglang=5"], "--price", "vllm=7.98", StageError) == {"vllm": 7.98, "sglang": 5}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["7.98"], "--price: expected KEY=VALUE like vllm=7.98, got '7.98' (hint)"),
        (["=7.98"], "--price: expected KEY=VALUE like vllm=7.98, got '=7.98' (hint)"),
        (["vllm=cheap"], "--price: vllm: 'cheap' is not a number"),
        (["vllm=nan"], "--price: vllm: 'nan' is not a finite number"),
    ],
)
def test_a_mistake_is_the_callers_one_line_error(items: list[str], message: str) -> None:
    with pytest.raises(StageError) as caught:
        number_pairs(items, "--price", "vllm=7.98", StageError, " (hint)")
    assert str(caught.value) == message
