"""Schedule slots: durations, the slot a time falls in, and the RayJob name a slot gets.

A CronJob gives its pod no scheduled time, so the launcher floors the current UTC time to the
schedule's period (shifted by an offset). The same slot always yields the same RayJob name, which
is what makes a retried or racing launcher attach (409) instead of starting a second run.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from musicgen.errors import ConfigError
from musicgen.schedule import k8s_schema

NAME_PREFIX = "gen-"
SLOT_FORMAT = "%Y%m%d%H%M"
# "gen-" + schedule + "-" + 12 digits must fit KubeRay's 47-character RayJob names.
MAX_SCHEDULE_NAME = k8s_schema.MAX_RAYJOB_NAME - len(NAME_PREFIX) - 1 - 12

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Seconds from ``90``, ``30s``, ``15m``, ``6h``, ``1d`` or combinations like ``1h30m``."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    if not text or _DURATION.sub("", text):
        raise ConfigError(f"duration {text!r}: use N, Ns, Nm, Nh, Nd (e.g. 6h, 1h30m)")
    return sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(text))


def parse_slot(text: str) -> datetime:
    """An ISO 8601 time as an aware UTC datetime (a time without offset is taken as UTC)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"--slot {text!r}: not an ISO 8601 time ({exc})") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def slot_for(now: datetime, period_s: int, offset_s: int = 0) -> datetime:
    """The start of the slot containing ``now``: slots are ``offset + k * period`` since epoch."""
    epoch = int(now.timestamp())
    start = (epoch - offset_s) // period_s * period_s + offset_s
    return datetime.fromtimestamp(start, UTC)


def rayjob_name(schedule: str, slot: datetime) -> str:
    """``gen-<schedule>-<YYYYMMDDHHMM>`` (UTC): the same slot always gives the same name."""
    return f"{NAME_PREFIX}{schedule}-{slot.astimezone(UTC).strftime(SLOT_FORMAT)}"


def iso(slot: datetime) -> str:
    """The slot as ``YYYY-MM-DDTHH:MMZ``: sorts chronologically, used in the slot annotation."""
    return slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
