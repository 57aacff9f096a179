"""Transposing benchmark piano rolls: exact column shifts, never a note pushed off the keys."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from musicgen.config import ExamplesConfig
from musicgen.examples.benchmark_datasets import make_benchmark_examples, transpose_frames
from musicgen.examples.compact_format import parse_pianoroll, serialize_pianoroll
from musicgen.storage import tfrecord


def random_roll(seed: int, low: int, high: int, steps: int = 12) -> np.ndarray:
    """A bool [steps, 88] roll whose notes sound only in columns low..high, both used."""
    frames = np.zeros((steps, 88), bool)
    rng = np.random.default_rng(seed)
    frames[:, low : high + 1] = rng.random((steps, high + 1 - low)) < 0.3
    frames[0, low] = frames[-1, high] = True
    return frames


@pytest.mark.parametrize("semitones", [-3, -2, -1, 1, 2, 3, 10])
def test_transpose_moves_every_note_by_exactly_the_shift(semitones: int) -> None:
    frames = random_roll(semitones + 50, 20, 60)
    shifted = transpose_frames(frames, semitones)
    assert shifted is not None
    assert shifted.dtype == bool
    assert shifted.shape == frames.shape
    rows, cols = np.nonzero(frames)
    moved_rows, moved_cols = np.nonzero(shifted)
    assert np.array_equal(moved_rows, rows)
    assert np.array_equal(moved_cols, cols + semitones)


def test_shift_zero_is_the_identity() -> None:
    frames = random_roll(0, 0, 87)
    same = transpose_frames(frames, 0)
    assert same is not None
    assert np.array_equal(same, frames)


@pytest.mark.parametrize(
    ("low", "high", "fits", "falls_off"),
    [
        (0, 40, [0, 1, 2, 3], [-1, -2, -3]),  # the lowest key sounds: nothing goes down
        (50, 87, [-3, -2, -1, 0], [1, 2, 3]),  # the highest key sounds: nothing goes up
        (2, 86, [-2, -1, 0, 1], [-3, 2, 3]),
        (3, 84, [-3, -2, -1, 0, 1, 2, 3], []),
    ],
)
def test_a_note_leaving_the_keyboard_drops_the_copy(
    low: int, high: int, fits: list[int], falls_off: list[int]
) -> None:
    frames = random_roll(low, low, high)
    for semitones in fits:
        assert transpose_frames(frames, semitones) is not None, semitones
    for semitones in falls_off:
        assert transpose_frames(frames, semitones) is None, semitones
    assert transpose_frames(frames, 88) is None


def test_only_copies_carry_a_transpose_feature() -> None:
    frames = random_roll(1, 30, 50)
    onsets = frames.copy()
    plain = serialize_pianoroll((frames, onsets), id="a", split="train", steps_per_quarter=1)
    zero = serialize_pianoroll(
        (frames, onsets), id="a", split="train", steps_per_quarter=1, transpose=0
    )
    assert zero == plain  # originals keep the bytes they had before copies existed
    assert parse_pianoroll(plain).transpose == 0
    copy = serialize_pianoroll(
        (frames, onsets), id="a/t-2", split="train", steps_per_quarter=1, transpose=-2
    )
    rec = parse_pianoroll(copy)
    assert (rec.id, rec.transpose) == ("a/t-2", -2)
    assert np.array_equal(rec.frames, frames)


def steps_of(low: int, high: int) -> list[list[int]]:
    """Four steps of a piece whose pitches span MIDI low..high."""
    return [[low], [low, high], [], [high]]


def test_copies_off_the_keyboard_are_counted_and_inputs_add_up(tmp_path: Path) -> None:
    pickle_path = tmp_path / "Tiny.pickle"
    data = {
        # MIDI 21..108 is the keyboard: the first piece cannot go down, the second cannot go
        # up by more than one, the third is silent, the last fits every shift.
        "train": [steps_of(21, 60), steps_of(60, 107), [[], []], steps_of(50, 70)],
        "valid": [steps_of(21, 108)],
        "test": [steps_of(40, 50)],
    }
    pickle_path.write_bytes(pickle.dumps(data))
    out = tmp_path / "out"
    report = make_benchmark_examples(
        ExamplesConfig(input=str(pickle_path), output=str(out), encoding="pianoroll",
                       steps_per_quarter=2, augment=True)
    )  # fmt: skip
    stats = report.stats
    assert stats.pipeline["transpositions_off_keyboard"] == 3 + 2
    assert dict(stats.examples) == {"train": 4 + 5 + 7, "valid": 1, "test": 1}
    assert (stats.inputs, stats.converted, stats.skipped) == (6, 5, 1)
    assert stats.consistent
    records = [
        parse_pianoroll(r)
        for r in tfrecord.read_tfrecord_file(str(out / "train/examples-00000-of-00001.tfrecord"))
    ]
    ids = [(r.id.removeprefix("/id/benchmark/Tiny/train/"), r.transpose) for r in records]
    assert ids == [
        ("0000", 0), ("0000/t+1", 1), ("0000/t+2", 2), ("0000/t+3", 3),
        ("0001/t-3", -3), ("0001/t-2", -2), ("0001/t-1", -1), ("0001", 0), ("0001/t+1", 1),
        *[(f"0003/t{k:+d}" if k else "0003", k) for k in range(-3, 4)],
    ]  # fmt: skip
