"""`deploy status`: uptime, cost so far (runtime.uptime x cost) and lifetime of turnbench pods only."""

from __future__ import annotations

from datetime import UTC, datetime

from deploy.runpod.resources import PodInfo
from deploy.runpod.status import describe

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def pod(pod_id: str, name: str, uptime: int, rate: float | None = 7.98) -> PodInfo:
    return PodInfo(pod_id, name, "RUNNING", rate, uptime, 2, "img", (8000,))


def test_cost_so_far_and_lifetime() -> None:
    lines = describe([pod("p1", "turnbench-vllm-ab12cd34-until-20261128T1100Z", 5400),
                      pod("p2", "turnbench-sglang-ab12cd34-until-20261128T1330Z", 1800),
                      pod("p3", "my-notebook", 99999)], NOW)  # fmt: skip
    assert lines[0].split()[:3] == ["POD", "NAME", "STATUS"] and len(lines) == 4
    assert "1h30m" in lines[1] and "11.97" in lines[1] and "EXPIRED" in lines[1]
    assert "3.99" in lines[2] and "ends in 1h30m" in lines[2]
    assert lines[3] == "2 pod(s): $15.96/h now, $15.96 so far"


def test_an_unpriced_pod_and_an_empty_account() -> None:
    assert "0.00" in describe([pod("p1", "turnbench-vllm-ab12cd34", 60, None)], NOW)[1]
    assert describe([pod("p3", "my-notebook", 1)], NOW) == ["no turnbench pods in this Runpod account"]
