"""Shared fixtures: paths to real data, an embedded local Ray, the GCS emulator (plugin)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.gcs_emulator"]

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MUSICGEN_SHARED", REPO.parent / "shared"))
SAMPLE_CORPUS = REPO / "data" / "sample-corpus"


def shared_path(*parts: str) -> Path:
    """A path under ../shared; fails loudly (never skips) when the shared data is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"shared test data missing: {path} (set MUSICGEN_SHARED to its folder)")
    return path


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """Magenta's own outputs for the 9 golden MIDI files."""
    return shared_path("golden", "magenta-performance-rnn")


@pytest.fixture(scope="session")
def edge_cases_dir() -> Path:
    """Ten broken or odd MIDI files from public test suites."""
    return shared_path("datasets", "midi", "edge-cases")


@pytest.fixture(scope="session")
def pop909_dir() -> Path:
    """809 real POP909 arrangements."""
    return shared_path("datasets", "midi", "pop909", "midi")


@pytest.fixture(scope="session")
def ray_local(gcs_emulator: object) -> Iterator[None]:
    """An embedded 2-CPU Ray, started after the emulator so that workers see its host."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()
