"""One fix to geventhttpclient's connection pool, so that t0 stays next to the request write.

geventhttpclient 2.6 checks a pooled keep-alive socket with `select.select([sock], [], [], 0.0)`
before every request. Under gevent's monkey-patching that call always yields to the hub "for
fairness" (gevent/select.py), so between our t0 and the write every other runnable greenlet
gets to run first: with 64 streams starting together the write came 2-7 ms after t0 and every
TTFT was inflated by it. A zero-timeout select never blocks, so the original system call is safe
here and keeps the check without the yield. Pinned: geventhttpclient>=2.6,<3 (pyproject.toml).
"""

from __future__ import annotations

import select as _select_module
from types import SimpleNamespace

import geventhttpclient.connectionpool as _pool
from gevent import monkey


def keep_t0_next_to_the_write() -> None:
    """Point the pool's `select` at the unpatched system call (idempotent)."""
    original_select = monkey.get_original("select", "select")
    if getattr(_pool.select, "select", None) is not original_select:
        _pool.select = SimpleNamespace(select=original_select, error=_select_module.error)  # type: ignore[assignment]
