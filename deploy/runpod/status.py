"""`turnbench deploy status`: which turnbench pods exist, for how long, and what they cost so far.

Cost so far is `runtime.uptime x cost` (REST v2): what Runpod bills for GPU time since the pod
last started (storage is extra and small); a pod that is not RUNNING shows 0 for both. It is also
where a pod's maximum lifetime shows as EXPIRED.
"""

from __future__ import annotations

from datetime import datetime

from deploy.runpod.lifetime import PodName, format_duration
from deploy.runpod.resources import PodInfo

HEADER = ("POD", "NAME", "STATUS", "UPTIME", "USD/H", "COST SO FAR", "LIFETIME")


def describe(pods: list[PodInfo], now: datetime) -> list[str]:
    """One line per turnbench pod, then a total; other pods in the account are left out."""
    rows = []
    total_rate = total_cost = 0.0
    for pod in pods:
        name = PodName.parse(pod.name)
        if name is None:
            continue
        rate = pod.cost_per_hr or 0.0
        cost = pod.uptime_seconds / 3600 * rate
        total_rate, total_cost = total_rate + rate, total_cost + cost
        if name.until is None:
            lifetime = "no limit"
        elif name.expired(now):
            lifetime = "EXPIRED: run `turnbench deploy down --expired`"
        else:
            lifetime = f"ends in {format_duration((name.until - now).total_seconds())}"
        uptime = format_duration(pod.uptime_seconds)
        rows.append((pod.id, pod.name, pod.status, uptime, f"{rate:.2f}", f"{cost:.2f}", lifetime))
    if not rows:
        return ["no turnbench pods in this Runpod account"]
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
             for row in [HEADER, *rows]]  # fmt: skip
    lines.append(f"{len(rows)} pod(s): ${total_rate:.2f}/h now, ${total_cost:.2f} so far")
    return lines
