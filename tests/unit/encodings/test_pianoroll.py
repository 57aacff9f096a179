"""Piano-roll encode/decode: real-file round trips, beat alignment, dropped and re-struck notes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from note_seq.protobuf.music_pb2 import NoteSequence

from musicgen.corpus.midi_fast import midi_to_note_sequence
from musicgen.encodings.pianoroll import (
    PianoRoll,
    PianorollEncodingConfig,
    decode,
    encode,
    note_spans,
    tempo_map,
)
from tests.conftest import SAMPLE_CORPUS

POP909 = sorted((SAMPLE_CORPUS / "pop909").glob("*.mid"))


def _ns(
    notes: list[tuple[int, float, float]],
    tempos: Sequence[tuple[float, float]] = ((0.0, 120.0),),
    drums: tuple[int, ...] = (),
) -> NoteSequence:
    ns = NoteSequence()
    for time, qpm in tempos:
        ns.tempos.add(time=time, qpm=qpm)
    for i, (pitch, start, end) in enumerate(notes):
        ns.notes.add(pitch=pitch, start_time=start, end_time=end, velocity=100, is_drum=i in drums)
    ns.total_time = max((end for _, _, end in notes), default=0.0)
    return ns


def _assert_same(a: PianoRoll, b: PianoRoll) -> None:
    assert np.array_equal(a.frames, b.frames)
    assert np.array_equal(a.onsets, b.onsets)
    assert np.array_equal(a.frame_times, b.frame_times)


def test_sample_corpus_is_there() -> None:
    assert len(POP909) >= 20


@pytest.mark.parametrize("path", POP909, ids=lambda p: Path(p).name)
@pytest.mark.parametrize("spq", [1, 4])
def test_real_file_round_trip(path: Path, spq: int) -> None:
    ns = midi_to_note_sequence(path.read_bytes())
    before = ns.SerializeToString()
    cfg = PianorollEncodingConfig(steps_per_quarter=spq)
    roll = encode(ns, cfg)
    assert ns.SerializeToString() == before  # the argument is never mutated
    assert roll.frames.dtype == bool
    assert roll.onsets.dtype == bool
    assert roll.frames.shape == roll.onsets.shape == (roll.num_steps, 88)
    assert roll.frame_times.shape == (roll.num_steps + 1,)
    assert not (roll.onsets & ~roll.frames).any()
    assert roll.frames.any()
    # Every kept note has an onset, but notes of one pitch can share a step on a coarse grid.
    kept = sum(1 for n in ns.notes if 21 <= n.pitch <= 108 and not n.is_drum)
    assert (0.9 if spq == 4 else 0.5) * kept <= roll.onsets.sum() <= kept
    if len(ns.tempos) == 1:  # every quarter note falls on a frame boundary
        beats = np.arange(len(roll.frame_times[::spq])) * 60.0 / ns.tempos[0].qpm
        np.testing.assert_allclose(roll.frame_times[::spq], beats, atol=1e-9)
    _assert_same(roll, encode(decode(roll, cfg), cfg))


def test_hand_built_sequence_decodes_to_expected_notes() -> None:
    # 120 qpm, 4 steps per quarter: one step is 0.125 s; slightly off-grid times snap.
    ns = _ns([(60, 0.0, 0.5), (64, 0.49, 1.01), (67, 0.26, 1.0), (72, 1.5, 1.52)])
    roll = encode(ns)
    assert roll.num_steps == 13
    np.testing.assert_allclose(roll.frame_times, np.arange(14) * 0.125)
    out = decode(roll, PianorollEncodingConfig(velocity=90))
    got = [(n.pitch, n.start_time, n.end_time, n.velocity) for n in out.notes]
    assert got == [
        (60, 0.0, 0.5, 90),
        (67, 0.25, 1.0, 90),
        (64, 0.5, 1.0, 90),
        (72, 1.5, 1.625, 90),  # shorter than a step: keeps one step
    ]
    assert out.total_time == pytest.approx(1.625)
    assert [(t.time, t.qpm) for t in out.tempos] == [(0.0, 120.0)]
    assert note_spans(roll) == [(0, 4, 60), (2, 8, 67), (4, 8, 64), (12, 13, 72)]


def test_tempo_change_keeps_frame_boundaries_on_beats() -> None:
    # 120 qpm for two beats (1 s), then 60 qpm: beats at 0, .5, 1, 2, 3, ...
    ns = _ns([(60, 0.0, 1.0), (62, 1.0, 3.0), (64, 2.5, 3.0)], tempos=[(0.0, 120.0), (1.0, 60.0)])
    roll = encode(ns, PianorollEncodingConfig(steps_per_quarter=2))
    beats = roll.frame_times[::2]
    np.testing.assert_allclose(beats, [0.0, 0.5, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(np.diff(roll.frame_times), [0.25] * 4 + [0.5] * 4)
    assert note_spans(roll) == [(0, 4, 60), (4, 8, 62), (7, 8, 64)]


def test_tempo_change_between_steps_still_puts_a_boundary_on_every_beat() -> None:
    # 0.3 s at 120 qpm is 0.6 quarter; the remaining 0.4 quarter at 60 qpm takes 0.4 s.
    ns = _ns([(60, 0.0, 2.7)], tempos=[(0.0, 120.0), (0.3, 60.0)])
    roll = encode(ns, PianorollEncodingConfig(steps_per_quarter=4))
    np.testing.assert_allclose(roll.frame_times[::4], [0.0, 0.7, 1.7, 2.7])
    _assert_same(roll, encode(decode(roll)))


def test_tempo_map_choices() -> None:
    assert [list(a) for a in tempo_map(NoteSequence())] == [[0.0], [120.0]]
    late = _ns([], tempos=[(0.4, 90.0), (2.0, 90.0), (3.0, 100.0)])
    assert [list(a) for a in tempo_map(late)] == [[0.0, 3.0], [90.0, 100.0]]
    same_time = _ns([], tempos=[(0.0, 60.0), (0.0, 75.0)])
    assert [list(a) for a in tempo_map(same_time)] == [[0.0], [75.0]]


def test_first_time_signature_is_kept_and_written_back() -> None:
    ns = _ns([(60, 0.0, 1.0)])
    ns.time_signatures.add(time=0.0, numerator=4, denominator=4)
    ns.time_signatures.add(time=0.0, numerator=3, denominator=4)
    ns.time_signatures.add(time=2.0, numerator=6, denominator=8)
    roll = encode(ns)
    assert roll.time_signature == (3, 4)
    ts = decode(roll).time_signatures
    assert [(t.time, t.numerator, t.denominator) for t in ts] == [(0.0, 3, 4)]
    assert encode(NoteSequence()).time_signature == (4, 4)


def test_out_of_range_and_drum_notes_are_dropped_and_counted() -> None:
    ns = _ns(
        [(20, 0.0, 1.0), (21, 0.0, 1.0), (108, 0.0, 1.0), (109, 0.0, 1.0), (0, 0, 1), (36, 0, 1)],
        drums=(5,),
    )
    roll = encode(ns)
    assert roll.dropped_out_of_range == 3
    assert roll.dropped_drums == 1
    assert roll.frames[:, 0].all()
    assert roll.frames[:, 87].all()
    assert roll.frames.sum(axis=1).tolist() == [2] * 8
    with_drums = encode(ns, PianorollEncodingConfig(include_drums=True))
    assert with_drums.dropped_drums == 0
    assert with_drums.frames[:, 36 - 21].all()


def test_narrow_pitch_range() -> None:
    cfg = PianorollEncodingConfig(min_pitch=60, max_pitch=71)
    roll = encode(_ns([(59, 0, 1), (60, 0, 1), (71, 0, 1), (72, 0, 1)]), cfg)
    assert roll.frames.shape == (8, 12)
    assert roll.dropped_out_of_range == 2
    assert [n.pitch for n in decode(roll).notes] == [60, 71]


def test_re_struck_held_notes_keep_their_onsets() -> None:
    # Back to back, overlapping, and nested re-strikes of one pitch.
    ns = _ns(
        [(60, 0.0, 0.5), (60, 0.5, 1.0), (62, 0.0, 1.0), (62, 0.25, 1.5), (64, 0, 2), (64, 1, 1.5)]
    )
    roll = encode(ns)
    col = {p: p - 21 for p in (60, 62, 64)}
    assert roll.frames[:8, col[60]].all()
    assert not roll.frames[8:, col[60]].any()
    assert np.flatnonzero(roll.onsets[:, col[60]]).tolist() == [0, 4]
    assert np.flatnonzero(roll.onsets[:, col[62]]).tolist() == [0, 2]
    assert np.flatnonzero(roll.onsets[:, col[64]]).tolist() == [0, 8]
    assert note_spans(roll) == [
        (0, 2, 62),
        (0, 4, 60),
        (0, 8, 64),
        (2, 12, 62),
        (4, 8, 60),
        (8, 16, 64),
    ]
    _assert_same(roll, encode(decode(roll)))


def test_decode_splits_only_on_onsets_and_ignores_onsets_on_silence() -> None:
    frames = np.zeros((6, 88), bool)
    onsets = np.zeros((6, 88), bool)
    frames[0:5, 39] = True
    onsets[[0, 3], 39] = True
    onsets[5, 40] = True  # no frame under it
    roll = PianoRoll(
        frames=frames, onsets=onsets, frame_times=np.arange(7) * 0.5, steps_per_quarter=1
    )
    assert note_spans(roll) == [(0, 3, 60), (3, 5, 60)]
    # A roll without onsets (B-L style): a held run is one note.
    bare = PianoRoll(
        frames=frames,
        onsets=np.zeros_like(frames),
        frame_times=roll.frame_times,
        steps_per_quarter=1,
    )
    assert [(n.start_time, n.end_time) for n in decode(bare).notes] == [(0.0, 2.5)]


def test_decode_does_not_mutate_the_roll() -> None:
    roll = encode(_ns([(60, 0.0, 1.0), (60, 0.5, 1.0)]))
    frames, onsets = roll.frames.copy(), roll.onsets.copy()
    decode(roll)
    assert np.array_equal(frames, roll.frames)
    assert np.array_equal(onsets, roll.onsets)


def test_empty_sequence() -> None:
    roll = encode(NoteSequence())
    assert roll.frames.shape == (0, 88)
    assert roll.frame_times.tolist() == [0.0]
    assert len(decode(roll).notes) == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"steps_per_quarter": 0},
        {"velocity": 0},
        {"velocity": 128},
        {"min_pitch": 90, "max_pitch": 80},
    ],
)
def test_config_is_validated(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any of several messages
        PianorollEncodingConfig(**kwargs)  # type: ignore[arg-type]
