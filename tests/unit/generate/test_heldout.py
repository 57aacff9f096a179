"""The held-out pieces a batch is compared with: bounded, one chunk per song, deterministic,
and a clear reason when there are none."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from musicgen.examples.compact_format import serialize_pianoroll
from musicgen.examples.encoding_info import EncodingInfo
from musicgen.generate.heldout import heldout_sequences
from musicgen.storage.tfrecord import write_records
from musicgen.train.config import DataConfig


def _roll(pitch: int) -> tuple[np.ndarray, np.ndarray]:
    frames = np.zeros((8, 88), bool)
    frames[:, pitch - 21] = True
    onsets = np.zeros_like(frames)
    onsets[0, pitch - 21] = True
    return frames, onsets


def _dataset(root: Path) -> SimpleNamespace:
    """Two eval shards: songs a (two chunks), b, c, d; pitch 60 + song number."""
    songs = [("a", 0), ("a", 0), ("b", 1), ("c", 2), ("d", 3)]
    records = [serialize_pianoroll(_roll(60 + n), id=song, split="eval", steps_per_quarter=4)
               for song, n in songs]  # fmt: skip
    (root / "eval").mkdir(parents=True)
    for name, part in (("examples-00000-of-00002", records[:3]),
                       ("examples-00001-of-00002", records[3:])):  # fmt: skip
        with (root / "eval" / f"{name}.tfrecord").open("wb") as f:
            write_records(f, part)
    info = EncodingInfo.for_pianoroll(4, splits=("train", "eval"))
    return SimpleNamespace(config=SimpleNamespace(data=DataConfig(dataset=str(root))), info=info)


def _pitches(pieces: list) -> list[int]:
    return [ns.notes[0].pitch for ns in pieces]


def test_one_chunk_per_song_in_shard_order_up_to_the_bound(tmp_path: Path) -> None:
    run = _dataset(tmp_path / "ds")
    pieces, why = heldout_sequences(run, 10)
    assert why is None
    assert _pitches(pieces) == [60, 61, 62, 63]  # song a once, then b, c, d
    assert _pitches(heldout_sequences(run, 2)[0]) == [60, 61]
    assert _pitches(heldout_sequences(run, 10)[0]) == _pitches(pieces)  # the same every time


def test_no_pieces_says_why(tmp_path: Path) -> None:
    run = _dataset(tmp_path / "ds")
    assert heldout_sequences(run, 0) == ([], "compare_records is 0")
    gone = SimpleNamespace(config=SimpleNamespace(data=DataConfig(dataset=str(tmp_path / "x"))),
                           info=run.info)  # fmt: skip
    pieces, why = heldout_sequences(gone, 5)
    assert pieces == []
    assert "not readable" in why
