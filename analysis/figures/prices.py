"""What a target costs: its price from run.json, a --price override, or a dated default.

Prices are never invented silently: a default is used only when run.json has no price, and the
report then says which default and from when. Defaults are derived from deploy.pricing, the one
dated price table (notes/engines-and-runpod.md §3), so a run deployed without a live price and a
run that recorded none are priced alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from deploy.pricing import (
    FALLBACK_AS_OF,
    H100_SXM,
    SERVERLESS_AS_OF,
    SERVERLESS_POOL,
    SERVERLESS_USD_PER_GPU_SECOND,
    pod_billing,
)
from harness.recording.run_dir import RunInfo

BillingKind = Literal["pod", "serverless"]


@dataclass(frozen=True)
class DefaultPrice:
    kind: BillingKind
    usd_per_hour: float  # pod: per pod (all its GPUs); serverless: per GPU-hour of worker time
    what: str
    as_of: str


DEFAULT_GPU_COUNT = 2  # serverless workers bill per GPU; turnbench deploys 2 GPUs per engine


def _default_pod(cloud: str) -> DefaultPrice:
    """deploy's fallback for turnbench's default pod (2x H100 SXM), with the date of its table."""
    usd_per_hour = float(pod_billing(None, H100_SXM, cloud, DEFAULT_GPU_COUNT)["usd_per_hour"])
    what = f"Runpod {DEFAULT_GPU_COUNT}x H100 SXM pod, {cloud.title()} Cloud, on demand"
    return DefaultPrice("pod", usd_per_hour, what, FALLBACK_AS_OF)


DEFAULT_PRICES: dict[str, DefaultPrice] = {
    "pod-secure": _default_pod("SECURE"),
    "pod-community": _default_pod("COMMUNITY"),
    # Serverless bills per GPU-second; kept here per GPU-hour like an override (`--price`) is given.
    "serverless": DefaultPrice(
        "serverless",
        SERVERLESS_USD_PER_GPU_SECOND[SERVERLESS_POOL] * 3600,
        "Runpod serverless H100, per GPU",
        SERVERLESS_AS_OF,
    ),
}
DEFAULT_POD = "pod-secure"  # turnbench's default deployment: one 2x H100 Secure pod per engine


@dataclass(frozen=True)
class Price:
    kind: BillingKind
    usd_per_hour: float  # pod: per pod; serverless: per GPU-hour
    gpu_count: int  # serverless: GPUs per worker (billed); pod: informational, the price is per pod
    source: str  # "run.json", "--price", or the default's description and date
    is_default: bool = False

    @property
    def usd_per_gpu_second(self) -> float:
        return self.usd_per_hour / 3600.0

    def describe(self) -> str:
        if self.kind == "pod":
            rate = f"${self.usd_per_hour:.2f}/h per pod"
        else:
            rate = f"${self.usd_per_gpu_second:.5f} per GPU-second x {self.gpu_count} GPUs"
        return f"{self.kind}, {rate} ({self.source})"


def resolve_price(info: RunInfo | None, override_usd_per_hour: float | None) -> Price:
    """The price for one run. An override is per pod-hour for pods, per GPU-hour for serverless."""
    target = info["target"] if info else None
    billing = target.get("billing") if target else None
    count = target.get("gpu_count") if target else None
    kind: BillingKind = billing["kind"] if billing else "pod"
    gpu_count = count if count is not None else DEFAULT_GPU_COUNT
    if override_usd_per_hour is not None:
        return Price(kind, override_usd_per_hour, gpu_count, "--price")
    if billing and kind == "pod" and billing.get("usd_per_hour") is not None:
        return Price(kind, float(billing["usd_per_hour"]), gpu_count, billing.get("source") or "run.json")
    if billing and kind == "serverless" and billing.get("usd_per_gpu_second") is not None:
        per_hour = float(billing["usd_per_gpu_second"]) * 3600.0
        return Price(kind, per_hour, gpu_count, billing.get("source") or "run.json")
    default = DEFAULT_PRICES["serverless" if kind == "serverless" else DEFAULT_POD]
    return Price(kind, default.usd_per_hour, gpu_count, f"default: {default.what}, as of {default.as_of}", True)
