"""The one dated price table: what a deployed target costs, as written into targets.toml's `billing`.

The live price wins: a pod's `cost` (REST v2, USD/h while RUNNING) is what Runpod bills. The table
below is only a fallback for when the API does not say (Runpod no longer publishes pod prices; these
are third-party copies, notes §3), and the `source` field always tells which one was used and from
when. analysis/ prices runs that recorded no price from this same table, and `turnbench compare`
prices its emulators by it.
"""

from __future__ import annotations

from typing import Any

H100_SXM = "NVIDIA H100 80GB HBM3"  # Runpod's GPU type id for the H100 SXM 80GB, what turnbench deploys (notes §1)

FALLBACK_AS_OF = "2026-11"  # third-party copies of Runpod's price list dated 2026-09-25 to 2026-11-09 (notes §3)
# On-demand USD per GPU-hour by (GPU type id, cloud type), notes §3; 2x H100 SXM = $7.98 / $5.38.
FALLBACK_USD_PER_GPU_HOUR: dict[tuple[str, str], float] = {
    (H100_SXM, "SECURE"): 3.99,
    (H100_SXM, "COMMUNITY"): 2.69,
    ("NVIDIA H100 PCIe", "SECURE"): 2.89,
    ("NVIDIA H100 PCIe", "COMMUNITY"): 1.99,
    ("NVIDIA H100 NVL", "SECURE"): 3.19,
    ("NVIDIA H100 NVL", "COMMUNITY"): 2.59,
    ("NVIDIA H200", "SECURE"): 4.59,
    ("NVIDIA A100-SXM4-80GB", "SECURE"): 1.79,
    ("NVIDIA A100-SXM4-80GB", "COMMUNITY"): 1.39,
    ("NVIDIA A100 80GB PCIe", "SECURE"): 1.79,
    ("NVIDIA A100 80GB PCIe", "COMMUNITY"): 1.19,
}

# Serverless, USD per GPU-second by GPU pool, from runpod/docs' pricing table (notes §3; may be stale, the
# section was removed on 2026-06-29). Flex and active workers bill the same since 2026-05-13.
SERVERLESS_AS_OF = "2026-06-08"  # when that table last changed
SERVERLESS_USD_PER_GPU_SECOND = {"ADA_80_PRO": 0.00116, "HOPPER_141": 0.00155, "AMPERE_80": 0.00076}
SERVERLESS_POOL = "ADA_80_PRO"  # the H100 pool, turnbench's serverless default
SERVERLESS_SOURCE = (
    f"default: Runpod serverless H100 ({SERVERLESS_POOL}) per GPU-second, docs pricing table of {SERVERLESS_AS_OF}"
)


def pod_billing(cost_per_hr: float | None, gpu_type: str, cloud: str, gpu_count: int) -> dict[str, Any]:
    """The pod's `billing` table: live `cost` when Runpod gave one, else the dated fallback."""
    if cost_per_hr:
        return {"kind": "pod", "usd_per_hour": round(cost_per_hr, 4), "source": "live: runpod cost"}
    # "ALL" may land on either cloud: assume the dearer Secure price rather than understate cost.
    priced_cloud = "SECURE" if cloud == "ALL" else cloud
    per_gpu = FALLBACK_USD_PER_GPU_HOUR.get((gpu_type, priced_cloud))
    if per_gpu is None:
        return {"kind": "pod", "usd_per_hour": 0.0, "source": f"unknown: no live price and no default for {gpu_type}"}
    return {
        "kind": "pod",
        "usd_per_hour": round(per_gpu * gpu_count, 2),
        "source": f"fallback: {gpu_count}x {gpu_type} {priced_cloud} at ${per_gpu}/GPU-h, as of {FALLBACK_AS_OF}",
    }


def serverless_billing(pool: str = SERVERLESS_POOL) -> dict[str, Any]:
    """A serverless endpoint's `billing` table: Runpod gives no live per-second price, so the dated one."""
    return {
        "kind": "serverless",
        "usd_per_gpu_second": SERVERLESS_USD_PER_GPU_SECOND[pool],
        "source": SERVERLESS_SOURCE,
    }
