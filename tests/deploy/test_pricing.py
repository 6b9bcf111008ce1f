"""Billing tables: the live price when Runpod gives one, a dated fallback when it does not."""

from __future__ import annotations

from deploy.pricing import pod_billing, serverless_billing

H100 = "NVIDIA H100 80GB HBM3"


def test_the_live_price_wins() -> None:
    assert pod_billing(8.12, H100, "SECURE", 2) == {
        "kind": "pod",
        "usd_per_hour": 8.12,
        "source": "live: runpod cost",
    }


def test_fallbacks_for_two_h100s_are_dated() -> None:
    secure, community = pod_billing(None, H100, "SECURE", 2), pod_billing(0.0, H100, "COMMUNITY", 2)
    assert (secure["usd_per_hour"], community["usd_per_hour"]) == (7.98, 5.38)
    assert "as of 2026-11" in secure["source"] and secure["source"].startswith("fallback: ")


def test_cloud_all_is_priced_as_secure_rather_than_understated() -> None:
    assert pod_billing(None, H100, "ALL", 2)["usd_per_hour"] == 7.98


def test_an_unknown_gpu_says_so() -> None:
    billing = pod_billing(None, "NVIDIA B300", "SECURE", 2)
    assert billing["usd_per_hour"] == 0.0 and billing["source"].startswith("unknown:")


def test_serverless_h100_per_gpu_second() -> None:
    billing = serverless_billing()
    assert (
        billing["kind"] == "serverless"
        and billing["usd_per_gpu_second"] == 0.00116
        and "2026-06-08" in billing["source"]
    )
