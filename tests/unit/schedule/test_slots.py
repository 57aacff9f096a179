"""Slots, durations and RayJob names (musicgen.schedule.slots)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from musicgen.errors import ConfigError
from musicgen.schedule import slots
from musicgen.schedule.slots import parse_duration, parse_slot, rayjob_name, slot_for


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("30s", 30), ("15m", 900), ("6h", 21600), ("1d", 86400), ("5h30m", 19800)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1w", "h", "1.5h", "-3m", "6 h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="duration"):
        parse_duration(text)


def test_parse_slot_defaults_to_utc_and_converts_offsets() -> None:
    assert parse_slot("2026-08-20T03:00") == datetime(2026, 8, 20, 3, 0, tzinfo=UTC)
    assert parse_slot("2026-08-20T05:00+02:00") == datetime(2026, 8, 20, 3, 0, tzinfo=UTC)
    with pytest.raises(ConfigError, match="ISO 8601"):
        parse_slot("yesterday")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-08-20T03:00:00", "2026-08-20T03:00"),  # on time
        ("2026-08-20T04:59:30", "2026-08-20T03:00"),  # late start or a retry: same slot
        ("2026-08-21T02:59:59", "2026-08-20T03:00"),  # still the same daily slot
        ("2026-08-21T03:00:00", "2026-08-21T03:00"),  # the next tick
    ],
)
def test_slot_is_now_floored_to_the_offset_grid(now: str, expected: str) -> None:
    slot = slot_for(parse_slot(now), period_s=86400, offset_s=3 * 3600)
    assert slot == parse_slot(expected)


def test_slot_for_hourly_schedule() -> None:
    assert slot_for(parse_slot("2026-08-20T10:47:12"), 3600) == parse_slot("2026-08-20T10:00")


def test_name_is_deterministic_and_fits_kuberay() -> None:
    slot = parse_slot("2026-08-20T03:00")
    assert rayjob_name("nightly", slot) == "gen-nightly-202608200300"
    longest = "s" * slots.MAX_SCHEDULE_NAME
    assert len(rayjob_name(longest, slot)) == 47  # KubeRay's RayJob name limit
