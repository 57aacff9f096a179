"""The four golden Magenta bundles (tests/testdata/golden/magenta-bundles) and their manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import in_testdata

BUNDLES = (
    "performance_2x128",
    "performance_with_dynamics_1x96",
    "density_conditioned_performance_with_dynamics_3x64",
    "performance_with_dynamics_and_modulo_encoding_2x64",
)


def bundles_dir() -> Path:
    return in_testdata("golden", "magenta-bundles")


def manifest_entry(name: str) -> dict[str, Any]:
    data = json.loads((bundles_dir() / "manifest.json").read_text())
    entry: dict[str, Any] = next(b for b in data["bundles"] if b["name"] == name)
    return entry


@pytest.fixture(params=BUNDLES)
def bundle_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name
