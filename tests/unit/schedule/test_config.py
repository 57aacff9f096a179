"""LauncherConfig rejects bad values (musicgen.schedule.config)."""

from __future__ import annotations

from typing import Any

import pytest

from musicgen.errors import ConfigError
from tests.unit.schedule.support import make_config


@pytest.mark.parametrize("schedule", ["Nightly", "night_ly", "1nightly", "nightly-", "s" * 31])
def test_config_rejects_bad_schedule_names(schedule: str) -> None:
    with pytest.raises(ConfigError, match="--schedule"):
        make_config(schedule=schedule)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"namespace": ""}, "--namespace"),
        ({"period_s": 30, "offset_s": 0}, "--period"),
        ({"offset_s": 86400}, "--offset"),
        ({"history_limit": -1}, "--history-limit"),
        ({"timeout_s": 0}, "--timeout"),
    ],
)
def test_config_rejects_bad_values(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_config(**overrides)
