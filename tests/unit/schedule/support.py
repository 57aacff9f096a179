"""What the schedule tests share: the base RayJob template and a valid launcher config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from musicgen.schedule.config import LauncherConfig
from musicgen.schedule.rayjob_body import load_template

REPO = Path(__file__).resolve().parents[3]
BASE_TEMPLATE = REPO / "k8s" / "base" / "rayjob.generate.template.yaml"


def make_config(**overrides: Any) -> LauncherConfig:
    """The nightly 03:00 schedule in namespace musicgen, with ``overrides``."""
    values: dict[str, Any] = {
        "schedule": "nightly",
        "template": BASE_TEMPLATE,
        "namespace": "musicgen",
        "period_s": 86400,
        "offset_s": 3 * 3600,
    }
    values.update(overrides)
    return LauncherConfig(**values)


def base_template() -> dict[str, Any]:
    """The base generation template, freshly loaded."""
    return load_template(BASE_TEMPLATE)
