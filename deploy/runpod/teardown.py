"""Pods cost money every second they exist, so every path out of a deployment that did not succeed
terminates what it created: an error, a timeout, Ctrl-C, SIGTERM or SIGHUP, a second pod that failed after
the first was made. `PodGuard` is that promise; `down` is the same for pods left by earlier runs.

Only SIGKILL (or a power cut) can skip the guard; the state file and the pod names let
`turnbench deploy down` clean up after that too.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from types import FrameType, TracebackType
from typing import Any

from deploy.errors import DeployError
from deploy.runpod.client import PodInfo, RunpodClient
from deploy.runpod.lifetime import PodName

TERMINATE_ATTEMPTS = 3  # a terminate that fails once (network blip) is retried before giving up loudly
RETRY_PAUSE_S = 2.0

Progress = Callable[[str], None]


# SIGTERM (kill, a CI runner's cancel) and SIGHUP (the terminal or SSH session closed) would end the
# process without running any cleanup; as Ctrl-C they terminate the pods first.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that one path terminates the pods for all of them."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signal_name = signal.Signals(signum).name


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    def raise_terminated(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    handlers: dict[int, Any] = dict.fromkeys(STOP_SIGNALS, raise_terminated)
    # A process started in the background of a non-interactive shell inherits SIGINT ignored
    # (so does Python's own handler): make Ctrl-C raise here whatever we were started with.
    handlers[signal.SIGINT] = signal.default_int_handler
    with _signal_handlers(handlers):
        yield


@contextmanager
def signals_held() -> Iterator[None]:
    """Ignore Ctrl-C and the stop signals while terminating: a second Ctrl-C must not leave a pod up."""
    with _signal_handlers(dict.fromkeys((signal.SIGINT, *STOP_SIGNALS), signal.SIG_IGN)):
        yield


@contextmanager
def _signal_handlers(handlers: dict[int, Any]) -> Iterator[None]:
    """Install `handlers` for the block, then put back what was there before."""
    previous = {}
    try:
        for sig, handler in handlers.items():
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: signals cannot be handled here anyway
        pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def terminate(client: RunpodClient, pods: dict[str, str], progress: Progress) -> dict[str, str]:
    """Terminate each pod (id -> engine); returns those that could not be terminated."""
    left = {}
    for pod_id, engine in pods.items():
        for attempt in range(1, TERMINATE_ATTEMPTS + 1):
            try:
                client.terminate_pod(pod_id)
            except DeployError as exc:
                if attempt == TERMINATE_ATTEMPTS:
                    progress(f"  could not terminate {engine} pod {pod_id}: {exc}")
                    left[pod_id] = engine
                else:
                    time.sleep(RETRY_PAUSE_S * attempt)
                continue
            progress(f"  terminated {engine} pod {pod_id}")
            break
    return left


class PodGuard:
    """Within `with PodGuard(...) as guard:`, every pod `add`ed (and any pod named for this
    deployment that Runpod made although its id never reached us, e.g. Ctrl-C during the create
    call) is terminated on the way out, unless the block reached `guard.keep()`."""

    def __init__(
        self, client: RunpodClient, deploy_id: str, progress: Progress, on_change: Callable[[dict[str, str]], None]
    ) -> None:
        self.client = client
        self.deploy_id = deploy_id
        self.pods: dict[str, str] = {}
        self._progress = progress
        self._on_change = on_change
        self._kept = False

    def add(self, pod_id: str, engine: str) -> None:
        self.pods[pod_id] = engine
        self._on_change(dict(self.pods))

    def keep(self) -> None:
        self._kept = True

    def __enter__(self) -> PodGuard:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._kept and exc_type is None:
            return
        with signals_held():
            self._progress(f"  {_cause(exc)}terminating every pod this deployment created")
            left = terminate(self.client, self._all_pods(), self._progress)
            try:
                self._on_change(left)
            except OSError as record_error:  # the pods matter more than the record of them
                self._progress(f"  could not update the deploy record: {record_error.strerror}")
            if left:
                self._progress(
                    f"  STILL RUNNING AND BILLED: {', '.join(left)}; run `turnbench deploy down --all` "
                    "or terminate them in the Runpod console"
                )

    def _all_pods(self) -> dict[str, str]:
        pods = dict(self.pods)
        try:
            for pod in self.client.list_pods():
                name = PodName.parse(pod.name)
                if name is not None and name.deploy_id == self.deploy_id:
                    pods.setdefault(pod.id, name.engine)
        except DeployError as exc:  # the recorded pods are still terminated below
            self._progress(f"  could not look for pods created but not recorded: {exc}")
        return pods


def _cause(exc: BaseException | None) -> str:
    if isinstance(exc, Terminated):
        return f"{exc.signal_name}: "
    return "Ctrl-C: " if isinstance(exc, KeyboardInterrupt) else ""


def select(pods: list[PodInfo], mode: str, recorded: set[str], now: datetime) -> list[PodInfo]:
    """The turnbench pods `down` should terminate: mode "all", "expired" or "recorded" (by id)."""
    chosen = []
    for pod in pods:
        name = PodName.parse(pod.name)
        if name is None:  # not ours, whatever the user asked
            continue
        if mode == "all" or (mode == "expired" and name.expired(now)) or (mode == "recorded" and pod.id in recorded):
            chosen.append(pod)
    return chosen


def down(client: RunpodClient, mode: str, recorded: set[str], progress: Progress, now: datetime) -> list[str]:
    """Terminate the selected pods; returns their ids. Raises if any is left running."""
    chosen = select(client.list_pods(), mode, recorded, now)
    with signals_held():
        left = terminate(client, {p.id: p.name for p in chosen}, progress)
    if left:
        raise DeployError(f"pods still running and billed: {', '.join(left)}; retry, or use the Runpod console")
    return [p.id for p in chosen]
