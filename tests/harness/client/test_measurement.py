"""The measurement contract, event by event (harness/client/measurement.py)."""

from __future__ import annotations

import pytest

from harness.client.dialect import Chunk
from harness.client.measurement import TurnMeter, percentile, tpot_ms
from harness.client.turn_result import ErrorKind


def chunk(content: str = "", reasoning: str = "", finish: str | None = None, usage: dict | None = None) -> Chunk:
    return Chunk(content, reasoning, finish, usage, None, "id-1")  # type: ignore[arg-type]


def stream(*events: tuple[float, Chunk], done_at: float | None = None) -> TurnMeter:
    meter = TurnMeter(t0=100.0, started_at=1_700_000_000.0)
    for t, c in events:
        meter.chunk(t, c)
    if done_at is not None:
        meter.done(done_at)
    return meter


USAGE = {"prompt_tokens": 50, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 32}}


def test_ttft_ttfo_itl_tpot_from_a_reasoning_stream() -> None:
    meter = stream(
        (100.010, chunk()),  # role-only: not a token
        (100.200, chunk(reasoning="think")),
        (100.220, chunk(reasoning="more")),
        (100.250, chunk(content="Answer")),
        (100.260, chunk(content=".", finish="stop")),
        (100.261, chunk(usage=USAGE)),
        done_at=100.262,
    )
    r = meter.result(200, t_end=100.3)
    assert r.ok
    assert r.ttft_ms == pytest.approx(200)
    assert r.ttfo_ms == pytest.approx(250)
    assert r.e2e_ms == pytest.approx(262)
    assert r.tpot_ms == pytest.approx((262 - 200) / 3)
    assert (r.itl_p50_ms, r.itl_max_ms) == (pytest.approx(20), pytest.approx(30))
    assert (r.prompt_tokens, r.cached_tokens, r.completion_tokens) == (50, 32, 4)
    assert (r.reasoning, r.content, r.events, r.token_events) == ("thinkmore", "Answer.", 7, 4)


def test_a_stream_with_finish_but_no_done_is_complete() -> None:
    meter = stream((100.1, chunk(content="a")), (100.2, chunk(finish="length")))
    meter.stream_ended(100.25)
    r = meter.result(200, 100.3)
    assert r.ok and r.e2e_ms == pytest.approx(250)


def test_neither_done_nor_finish_is_truncated() -> None:
    meter = stream((100.1, chunk(content="a")))
    meter.stream_ended(100.2)
    assert meter.result(200, 100.3).error_kind is ErrorKind.TRUNCATED


def test_abort_is_a_failure_even_with_done() -> None:
    r = stream((100.1, chunk(content="a")), (100.2, chunk(finish="abort")), done_at=100.3).result(200, 100.3)
    assert r.error_kind is ErrorKind.ABORTED and r.ttft_ms == pytest.approx(100)


def test_the_first_failure_wins_and_ends_the_clock() -> None:
    meter = stream((100.1, chunk(content="a")))
    meter.chunk(100.2, Chunk("", "", None, None, "out of memory", "id-1"))
    meter.failed(100.9, ErrorKind.TRUNCATED, "closed")
    r = meter.result(200, 101.0)
    assert (r.error_kind, r.error, r.e2e_ms) == (ErrorKind.ERROR_EVENT, "out of memory", pytest.approx(200))


def test_tpot_needs_two_tokens_and_a_ttft() -> None:
    assert tpot_ms(500, 100, 5) == 100
    assert tpot_ms(500, 100, 1) is None
    assert tpot_ms(500, None, 5) is None
    assert tpot_ms(500, 100, None) is None


def test_percentiles_are_nearest_rank_observed_values() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (50, 99, 100)
    assert percentile([7.0], 0.99) == 7.0
