"""The artifact layout: run directories, checkpoint names, and generated batches (prefixes,
deterministic sample ids, finding the newest complete batch)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from musicgen import storage
from musicgen.errors import ObjectNotFound
from musicgen.storage import layout


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


def test_run_dir_names_local_and_gcs() -> None:
    run = layout.RunDir.of("gs://b/runs", "performance_rnn", "r1")
    assert run.uri == "gs://b/runs/performance_rnn/r1"
    assert run.config == "gs://b/runs/performance_rnn/r1/config.resolved.yaml"
    assert run.encoding == "gs://b/runs/performance_rnn/r1/encoding.json"
    assert run.chords == "gs://b/runs/performance_rnn/r1/chords.json"
    assert run.checkpoint(200, ".keras") == (
        "gs://b/runs/performance_rnn/r1/checkpoints/ckpt-00000200.keras"
    )
    assert run.worker(1) == "gs://b/runs/performance_rnn/r1/workers/rank-1.json"
    assert layout.RunDir.of("/data/runs/", "x", "y").model == "/data/runs/x/y/model.keras"
    with pytest.raises(ValueError, match="suffix"):
        run.checkpoint(1, ".h5")


def test_checkpoint_names_round_trip_and_reject_others() -> None:
    assert layout.checkpoint_stem(7) == "ckpt-00000007"
    assert layout.checkpoint_step("ckpt-00000007.keras") == (7, ".keras")
    assert layout.checkpoint_step("ckpt-00000007.json") == (7, ".json")
    for other in ("ckpt-7.json", "ckpt-00000007.keras.tmp", "model.keras", "xckpt-00000007.json"):
        assert layout.checkpoint_step(other) is None
    with pytest.raises(ValueError, match="out of range"):
        layout.checkpoint_stem(10**8)


def test_page_file_names_sit_in_their_folders_and_reject_paths() -> None:
    assert layout.render_name("b1-00003", ".ogg") == "renders/b1-00003.ogg"
    assert layout.plot_name("pitch_range") == "plots/pitch_range.png"
    for bad in ("../x", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="bad"):
            layout.plot_name(bad)
        with pytest.raises(ValueError, match="bad"):
            layout.render_name(bad, ".png")
