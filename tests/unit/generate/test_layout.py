"""Batch names: prefixes, deterministic sample ids, and finding the newest complete batch."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from musicgen import storage
from musicgen.errors import ObjectNotFound
from musicgen.generate import layout


def test_batch_prefix_local_and_gcs() -> None:
    assert layout.batch_prefix("gs://b", "prnn", "2024-05-01", "b1") == (
        "gs://b/generated/prnn/2024-05-01/b1"
    )
    assert layout.batch_prefix("/data/", "prnn", dt.date(2024, 5, 1), "b1") == (
        "/data/generated/prnn/2024-05-01/b1"
    )
    assert layout.batch_prefix("r", "m", dt.datetime(2024, 5, 1, 13, 5), "x").endswith(
        "2024-05-01/x"
    )


@pytest.mark.parametrize(
    ("model", "date", "batch"),
    [("a/b", "2024-05-01", "b"), ("m", "2024-5-1", "b"), ("m", "2024-02-30", "b"),
     ("m", "2024-05-01", ".hidden"), ("m", "2024-05-01", ""), ("", "2024-05-01", "b")],
)  # fmt: skip
def test_batch_prefix_rejects_bad_components(model: str, date: str, batch: str) -> None:
    with pytest.raises(ValueError, match="bad"):
        layout.batch_prefix("gs://b", model, date, batch)


def test_sample_ids_are_deterministic_and_parse_back() -> None:
    assert layout.sample_id("b1", 42) == "b1-00042"
    assert layout.sample_id("b1", 123456) == "b1-123456"
    assert layout.sample_name("b1-00042") == "b1-00042.mid"
    assert layout.parse_sample_id("run-7-00042") == ("run-7", 42)
    for bad in ("b1-42", "b1", "-00001", "b1-0004x"):
        with pytest.raises(ValueError, match="bad sample id"):
            layout.parse_sample_id(bad)
    with pytest.raises(ValueError, match=">= 0"):
        layout.sample_id("b1", -1)


def _batch(root: Path, model: str, date: str, batch: str, *, complete: bool) -> str:
    prefix = layout.batch_prefix(str(root), model, date, batch)
    storage.write_bytes(storage.join(prefix, "b-00000.mid"), b"x")
    storage.write_text(storage.join(prefix, layout.MANIFEST), "")
    if complete:
        storage.write_text(storage.join(prefix, layout.REPORT), "{}")
    return prefix


def test_latest_batch_picks_newest_complete(tmp_path: Path) -> None:
    _batch(tmp_path, "prnn", "2024-01-01", "z9", complete=True)
    newest = _batch(tmp_path, "prnn", "2024-01-02", "a1", complete=True)
    later_id = _batch(tmp_path, "prnn", "2024-01-02", "a2", complete=True)
    _batch(tmp_path, "prnn", "2024-01-03", "a1", complete=False)  # newest, but unfinished
    lstm = _batch(tmp_path, "lstm", "2024-01-01", "a1", complete=True)
    storage.write_text(str(tmp_path / "generated" / "prnn" / "notes.txt"), "stray")
    assert newest != later_id
    assert layout.latest_batch(tmp_path) == later_id
    assert layout.latest_batch(str(tmp_path), model="prnn") == later_id
    assert layout.latest_batch(tmp_path, model="lstm") == lstm


def test_latest_batch_without_complete_batch_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound, match="no complete batch") as info:
        layout.latest_batch(tmp_path)
    assert str(tmp_path / "generated") in str(info.value)
    _batch(tmp_path, "prnn", "2024-01-03", "a1", complete=False)
    with pytest.raises(ObjectNotFound, match="no complete batch"):
        layout.latest_batch(tmp_path, model="prnn")
