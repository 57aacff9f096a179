"""Shared fixtures: paths to real data, an embedded local Ray, the GCS emulator (plugin)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["tests.fixtures.gcs_emulator"]

REPO = Path(__file__).resolve().parents[1]
# The small real data the tests read (golden Magenta outputs, MIDI edge cases, B-L pickles, a few
# POP909 files), in the repository, laid out as in ../shared; see its README.md. The KubeRay CRDs
# are package data (musicgen/schedule/kuberay_crds), which code finds without being told.
TESTDATA = REPO / "tests" / "testdata"
SAMPLE_CORPUS = REPO / "data" / "sample-corpus"


def in_testdata(*parts: str) -> Path:
    """A path under tests/testdata; fails loudly (never skips) when it is missing."""
    path = TESTDATA.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"test data missing: {path} (tests/testdata/ is part of the repository)")
    return path


def first_seconds(ns: Any, seconds: float) -> Any:
    """The first ``seconds`` of a NoteSequence, notes cut at the end (a generated piece's
    length, for comparing songs with pieces)."""
    from note_seq.protobuf.music_pb2 import NoteSequence

    out = NoteSequence()
    out.CopyFrom(ns)
    del out.notes[:]
    for note in ns.notes:
        if note.start_time < seconds:
            kept = out.notes.add()
            kept.CopyFrom(note)
            kept.end_time = min(note.end_time, seconds)
    out.total_time = seconds
    return out


def bundled_pop909() -> list[Path]:
    """Every POP909 file in the repository: the sample corpus and the test-only ones."""
    files = [*(SAMPLE_CORPUS / "pop909").glob("*.mid")]
    files += in_testdata("datasets", "midi", "pop909", "midi").glob("*.mid")
    return sorted(files, key=lambda p: p.name)


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """Magenta's own outputs for the 9 golden MIDI files."""
    return in_testdata("golden", "magenta-performance-rnn")


@pytest.fixture(scope="session")
def edge_cases_dir() -> Path:
    """Ten broken or odd MIDI files from public test suites."""
    return in_testdata("datasets", "midi", "edge-cases")


@pytest.fixture(scope="session")
def pop909_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The POP909 files in the repository (``bundled_pop909``), linked into one folder."""
    folder = tmp_path_factory.mktemp("pop909")
    for path in bundled_pop909():
        (folder / path.name).symlink_to(path)
    return folder


@pytest.fixture(scope="session")
def ray_local(gcs_emulator: object) -> Iterator[None]:
    """An embedded 2-CPU Ray, started after the emulator so that workers see its host."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()
