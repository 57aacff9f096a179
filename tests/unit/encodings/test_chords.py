"""Chord vocabulary on the JSB training split: round trip, OOV, JSON, deterministic ids."""

from __future__ import annotations

import numpy as np
import pytest

from musicgen.encodings.chords import OOV_ID, SILENCE_ID, ChordVocabulary
from musicgen.encodings.pianoroll import PianoRoll
from musicgen.examples.polyphonic import load_polyphonic
from tests.conftest import in_testdata


@pytest.fixture(scope="module")
def jsb() -> dict[str, list[np.ndarray]]:
    return load_polyphonic(in_testdata("datasets", "polyphonic", "JSB_Chorales.pickle"))


@pytest.fixture(scope="module")
def vocab(jsb: dict[str, list[np.ndarray]]) -> ChordVocabulary:
    return ChordVocabulary.build(jsb["train"])


def test_round_trip_on_training_split(
    jsb: dict[str, list[np.ndarray]], vocab: ChordVocabulary
) -> None:
    for roll in jsb["train"]:
        ids = vocab.encode(roll)
        assert ids.dtype == np.int64
        assert ids.shape == (len(roll),)
        assert (ids != OOV_ID).all()  # every training chord is in a min_count=1 vocabulary
        np.testing.assert_array_equal(vocab.decode(ids), roll)
    silent = sum(int((~r.any(axis=1)).sum()) for r in jsb["train"])
    assert silent == 18  # README: 18 empty steps in the training split
    assert sum(int((vocab.encode(r) == SILENCE_ID).sum()) for r in jsb["train"]) == silent


def test_unseen_chords_map_to_oov(jsb: dict[str, list[np.ndarray]], vocab: ChordVocabulary) -> None:
    oov = 0
    for roll in jsb["valid"]:
        ids = vocab.encode(roll)
        known = ids != OOV_ID
        np.testing.assert_array_equal(vocab.decode(ids)[known], roll[known])
        assert not vocab.decode(ids)[~known].any()  # OOV decodes to silence
        oov += int((~known).sum())
    assert 0 < oov < sum(len(r) for r in jsb["valid"]) // 2


def test_ids_sorted_by_frequency_then_pitches(
    jsb: dict[str, list[np.ndarray]], vocab: ChordVocabulary
) -> None:
    keys = [(-n, c) for n, c in zip(vocab.counts, vocab.chords, strict=True)]
    assert keys == sorted(keys)
    assert all(len(c) > 0 and list(c) == sorted(c) for c in vocab.chords)
    assert sum(vocab.counts) == 13_807 - 18
    assert ChordVocabulary.build(jsb["train"][::-1]) == vocab  # piece order does not matter


def test_min_count_and_max_size(jsb: dict[str, list[np.ndarray]], vocab: ChordVocabulary) -> None:
    frequent = ChordVocabulary.build(jsb["train"], min_count=5)
    assert min(frequent.counts) >= 5
    assert frequent.chords == vocab.chords[: len(frequent.chords)]
    small = ChordVocabulary.build(jsb["train"], max_size=50)
    assert small.size == 50
    assert small.chords == vocab.chords[:48]
    with pytest.raises(ValueError, match="max_size"):
        ChordVocabulary.build(jsb["train"], max_size=1)


def test_json_round_trip(jsb: dict[str, list[np.ndarray]], vocab: ChordVocabulary) -> None:
    again = ChordVocabulary.from_json(vocab.to_json())
    assert again == vocab
    np.testing.assert_array_equal(again.encode(jsb["test"][0]), vocab.encode(jsb["test"][0]))
    with pytest.raises(ValueError, match="not a"):
        ChordVocabulary.from_json('{"format": "other"}')


def test_accepts_piano_rolls_and_checks_width() -> None:
    frames = np.zeros((3, 88), bool)
    frames[1, [39, 43]] = True
    roll = PianoRoll(frames=frames, onsets=frames, frame_times=np.arange(4.0), steps_per_quarter=1)
    vocab = ChordVocabulary.build([roll])
    assert vocab.chords == ((60, 64),)
    assert vocab.encode(roll).tolist() == [SILENCE_ID, 2, SILENCE_ID]
    with pytest.raises(ValueError, match="width"):
        vocab.encode(np.zeros((2, 12), bool))
