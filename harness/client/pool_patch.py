"""turnbench's adjustments to geventhttpclient's connection pool: t0 next to the write, connects timed.

Both sit on the path between t0 and the request write, so both are kept to what a reused
connection can afford. Pinned: geventhttpclient>=2.6,<3 (pyproject.toml).

- The pool checks a kept-alive socket with `select.select([sock], [], [], 0.0)` before every
  request. Under gevent's monkey-patching that call always yields to the hub "for fairness"
  (gevent/select.py), so between our t0 and the write every other runnable greenlet ran first:
  with 64 streams starting together the write came 2-7 ms after t0 and every TTFT was inflated by
  it. A zero-timeout select never blocks, so the original system call keeps the check without the
  yield (`keep_t0_next_to_the_write`).
- vLLM and SGLang close a connection idle for 5 s (uvicorn's `timeout_keep_alive`: vLLM passes
  VLLM_HTTP_TIMEOUT_KEEP_ALIVE, default 5; SGLang 0.5 passes 5), and people think longer than
  that between turns, so most later turns open a new connection inside TTFT: tens to hundreds of
  ms through Runpod's TLS proxy. The pool opens sockets in `_create_socket` (DNS, TCP connect,
  TLS handshake), in the greenlet that sends the request; `time_connects` wraps it to stamp start
  and end on the record that greenlet armed for its turn (`watch_connects`). A reused socket
  costs nothing more; a new one, two monotonic reads.
- The pool resolves the host name again for every new connection, through gevent's resolver
  thread pool: the hand-off and the GIL it takes stalled the event loop 4-7 ms at a time while
  users started (py-spy: 13% of the loop's busy time in `getaddrinfo`, even for 127.0.0.1), and
  every reconnect paid a lookup inside its TTFT. A load generator that resolves once per minute
  measures the engine, not its own DNS (`remember_addresses`).
"""

from __future__ import annotations

import contextlib
import select as _select_module
from time import monotonic
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import geventhttpclient.connectionpool as _pool
from gevent import monkey
from gevent.local import local
from gevent.socket import socket

from harness.client.measurement import ConnectTimes

ADDRESS_TTL_S = 60.0  # a host's addresses are looked up again after this long
_this_greenlet = local()  # .times: the ConnectTimes of the turn this greenlet is sending


def keep_t0_next_to_the_write() -> None:
    """Point the pool's `select` at the unpatched system call (idempotent)."""
    original_select = monkey.get_original("select", "select")
    if getattr(_pool.select, "select", None) is not original_select:
        _pool.select = SimpleNamespace(select=original_select, error=_select_module.error)  # type: ignore[assignment]


def time_connects() -> None:
    """Stamp every new connection on the calling greenlet's `ConnectTimes` (idempotent)."""
    original = _pool.ConnectionPool._create_socket
    if getattr(original, "_turnbench", False):
        return

    def _create_socket(self: _pool.ConnectionPool) -> socket:
        times: ConnectTimes | None = getattr(_this_greenlet, "times", None)
        started = monotonic()
        try:
            return original(self)
        finally:  # a refused or timed-out connect is stamped too: the turn waited for it
            if times is not None:
                # One connect per turn (geventhttpclient 2.6 retries a POST only after an
                # `Expect: 100-continue`, which turnbench never sends); were there two, the turn
                # waited from the first start to the last end.
                if times.started is None:
                    times.started = started
                times.ended = monotonic()

    _create_socket._turnbench = True  # type: ignore[attr-defined]
    _pool.ConnectionPool._create_socket = _create_socket  # type: ignore[method-assign]


def watch_connects() -> ConnectTimes:
    """A fresh record for the calling greenlet's next request, filled only if it opens a connection."""
    times = ConnectTimes()
    _this_greenlet.times = times
    return times


_known_addresses: dict[tuple[str, int, bool], tuple[float, Any]] = {}


def resolve_ahead(url: str) -> None:
    """Look the host of `url` up now, before the load: the first lookup of a process also starts
    gevent's resolver thread, which held the first turn's connect for 5-11 ms."""
    parsed = urlsplit(url)
    if parsed.hostname:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        with contextlib.suppress(OSError):  # an unreachable host is the first turn's to report
            _pool.ConnectionPool(parsed.hostname, port, parsed.hostname, port)._resolve()


def remember_addresses() -> None:
    """Resolve each (host, port) once per `ADDRESS_TTL_S` per process, not once per connection (idempotent)."""
    original = _pool.ConnectionPool._resolve
    if getattr(original, "_turnbench", False):
        return
    known = _known_addresses

    def _resolve(self: _pool.ConnectionPool) -> Any:
        key = (self._connection_host, self._connection_port, self.disable_ipv6)
        remembered = known.get(key)
        if remembered is not None and monotonic() - remembered[0] < ADDRESS_TTL_S:
            return remembered[1]
        addresses = original(self)
        known[key] = (monotonic(), addresses)
        return addresses

    _resolve._turnbench = True  # type: ignore[attr-defined]
    _pool.ConnectionPool._resolve = _resolve  # type: ignore[method-assign]
