"""How long pods live: durations on the command line, and pod names that carry their own deadline.

A pod's name is the only label Runpod keeps that `get_pods` returns without secrets next to it
(`env` and `dockerArgs` hold keys), so everything `down` and `status` need is in the name:
`turnbench-<engine>-<deploy id>[-until-<UTC deadline>]`. The deadline is enforced only when
someone runs `turnbench deploy status` or `down --expired`: Runpod has no self-destruct for pods.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from deploy.errors import DeployError

POD_PREFIX = "turnbench-"
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")
_NAME = re.compile(r"^turnbench-(?P<engine>[a-z]+)-(?P<deploy>[a-z0-9]+)(?:-until-(?P<until>\d{8}T\d{4}Z))?$")
_DEADLINE_FORMAT = "%Y%m%dT%H%MZ"


def parse_duration(text: str, option: str) -> float:
    """Seconds in "90", "90s", "40m", "4h" or "1h30m"; `option` names the flag in the error."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        match = _DURATION.match(value)
        if not value or match is None:
            raise DeployError(f"{option} {text!r}: expected a duration such as 90s, 40m, 4h or 1h30m") from None
        hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if seconds <= 0:
        raise DeployError(f"{option} {text!r}: must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def new_deploy_id() -> str:
    """Short, lowercase, unique enough to tell this deployment's pods from any other's."""
    return secrets.token_hex(4)


@dataclass(frozen=True)
class PodName:
    engine: str
    deploy_id: str
    until: datetime | None = None  # UTC, minute precision; None = no maximum lifetime

    def __str__(self) -> str:
        name = f"{POD_PREFIX}{self.engine}-{self.deploy_id}"
        return f"{name}-until-{self.until.strftime(_DEADLINE_FORMAT)}" if self.until else name

    @classmethod
    def for_new_pod(cls, engine: str, deploy_id: str, max_lifetime_s: float | None, now: datetime) -> PodName:
        if max_lifetime_s is None:
            return cls(engine, deploy_id)
        # Rounded up to the minute the name can carry, so a pod never expires before it was promised.
        until = (now + timedelta(seconds=max_lifetime_s, minutes=1)).replace(second=0, microsecond=0)
        return cls(engine, deploy_id, until)

    @classmethod
    def parse(cls, name: str) -> PodName | None:
        """None for a pod turnbench did not name (a user's own pods are never touched)."""
        match = _NAME.match(name or "")
        if match is None:
            return None
        until = match["until"]
        deadline = datetime.strptime(until, _DEADLINE_FORMAT).replace(tzinfo=UTC) if until else None
        return cls(match["engine"], match["deploy"], deadline)

    def expired(self, now: datetime) -> bool:
        return self.until is not None and now >= self.until
