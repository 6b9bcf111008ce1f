"""Durations, and pod names that carry the deployment and its deadline."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from deploy.errors import DeployError
from deploy.runpod.lifetime import PodName, format_duration, new_deploy_id, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("40m", 2400), ("4h", 14400),
                                                ("1h30m", 5400), ("0.5s", 0.5)])  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, "--timeout") == seconds


@pytest.mark.parametrize("text", ["", "soon", "4 hours", "0", "-5", "m"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(DeployError, match="--max-lifetime"):
        parse_duration(text, "--max-lifetime")


def test_format_duration() -> None:
    assert [format_duration(s) for s in (5, 190, 3900)] == ["5s", "3m10s", "1h05m"]


def test_names_round_trip_and_the_deadline_is_never_early() -> None:
    now = datetime(2026, 11, 28, 10, 15, 30, tzinfo=UTC)
    name = PodName.for_new_pod("vllm", "ab12cd34", 4 * 3600, now)
    assert str(name) == "turnbench-vllm-ab12cd34-until-20261128T1416Z"
    assert PodName.parse(str(name)) == name
    assert not name.expired(datetime(2026, 11, 28, 14, 15, 30, tzinfo=UTC))
    assert name.expired(datetime(2026, 11, 28, 14, 16, tzinfo=UTC))
    plain = PodName.for_new_pod("sglang", "ab12cd34", None, now)
    assert str(plain) == "turnbench-sglang-ab12cd34" and not plain.expired(now)


@pytest.mark.parametrize("name", ["my-notebook", "turnbench", "turnbench-vllm", "Turnbench-vllm-ab12", ""])
def test_other_names_are_not_ours(name: str) -> None:
    assert PodName.parse(name) is None


def test_deploy_ids_fit_the_name_pattern() -> None:
    deploy_id = new_deploy_id()
    assert PodName.parse(f"turnbench-vllm-{deploy_id}") == PodName("vllm", deploy_id)
