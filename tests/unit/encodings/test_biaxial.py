"""Johnson's biaxial per-note features: shape, layout and exact values on a tiny roll."""

from __future__ import annotations

import numpy as np

from musicgen.encodings import biaxial
from musicgen.encodings.biaxial import features
from musicgen.encodings.pianoroll import PianoRoll


def _roll(num_steps: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((num_steps, 88), bool), np.zeros((num_steps, 88), bool)


def test_layout_constants() -> None:
    assert biaxial.NUM_FEATURES == 79
    widths = [biaxial.VICINITY_SLICE, biaxial.PITCH_CLASS_SLICE, biaxial.BEAT_SLICE]
    assert [s.stop - s.start for s in widths] == [50, 12, 4]
    assert slice(67, 79) == biaxial.CONTEXT_SLICE


def test_shape_dtype_and_static_parts() -> None:
    frames, _ = _roll(20)
    f = features(frames)
    assert f.shape == (20, 88, 79)
    assert f.dtype == np.float32
    np.testing.assert_array_equal(f[3, :, 50], np.arange(21, 109))
    pc = f[0, :, 51:63]
    assert (pc.sum(axis=1) == 1).all()
    assert pc[0, 9] == 1
    assert pc[39, 0] == 1
    beats = f[:, 0, 63:67]
    np.testing.assert_array_equal(beats[5], [1, 0, 1, 0])  # 5 = 0b0101, LSB first
    np.testing.assert_array_equal(beats[15], [1, 1, 1, 1])
    np.testing.assert_array_equal(beats[16], [0, 0, 0, 0])  # t mod 16
    assert not f[:, :, :50].any()
    assert not f[:, :, 67:].any()


def test_vicinity_play_and_articulate_bits_with_zero_padding_at_the_edges() -> None:
    frames, onsets = _roll(3)
    frames[0:2, 0] = True  # A0 held over steps 0-1, struck at 0
    onsets[0, 0] = True
    frames[1, 87] = onsets[1, 87] = True  # C8 struck at step 1
    frames[1, 39] = True  # MIDI 60 held into step 1 without an onset
    roll = PianoRoll(frames=frames, onsets=onsets, frame_times=np.arange(4.0), steps_per_quarter=1)
    f = features(roll)
    assert not f[0, :, :50].any()  # nothing before step 0
    # Step 1 sees step 0: A0 played and articulated, at offset 0 of note 0 (pair i = 12).
    np.testing.assert_array_equal(f[1, 0, 24:26], [1, 1])
    assert f[1, 0, :24].sum() == 0
    assert f[1, 0, 26:50].sum() == 0
    # Note 5 sees A0 at offset -5 (pair 7); note 12 at offset -12 (pair 0); note 13 not at all.
    np.testing.assert_array_equal(f[1, 5, 14:16], [1, 1])
    np.testing.assert_array_equal(f[1, 12, 0:2], [1, 1])
    assert not f[1, 13, :50].any()
    # Step 2 sees step 1: A0 played not struck; C8 played and struck; MIDI 60 played not struck.
    np.testing.assert_array_equal(f[2, 0, 24:26], [1, 0])
    np.testing.assert_array_equal(f[2, 87, 24:26], [1, 1])
    np.testing.assert_array_equal(f[2, 87, 26:50], np.zeros(24))  # above C8: zero padding
    np.testing.assert_array_equal(f[2, 80, 38:40], [1, 1])  # C8 is +7 from note 80 (pair 19)
    np.testing.assert_array_equal(f[2, 40, 22:24], [1, 0])  # MIDI 60 is -1 from note 40


def test_pitch_class_counts_of_previous_frame_relative_to_the_note() -> None:
    frames, _ = _roll(2)
    frames[0, [60 - 21, 64 - 21, 72 - 21]] = True  # C4 E4 C5: C counted twice, E once
    f = features(frames)
    assert not f[0, :, 67:].any()
    expected_c = np.zeros(12)
    expected_c[[0, 4]] = [2, 1]
    np.testing.assert_array_equal(f[1, 60 - 21, 67:], expected_c)  # a C: C at k=0, E at k=4
    np.testing.assert_array_equal(f[1, 72 - 21, 67:], expected_c)
    expected_d = np.zeros(12)
    expected_d[[10, 2]] = [2, 1]  # a D: C is 10 semitones up, E is 2
    np.testing.assert_array_equal(f[1, 62 - 21, 67:], expected_d)


def test_bare_array_derives_onsets_from_silence() -> None:
    frames, _ = _roll(4)
    frames[0:3, 40] = True
    f = features(frames)
    # Step 1 sees the note struck at 0; step 2 sees it held.
    np.testing.assert_array_equal(f[1, 40, 24:26], [1, 1])
    np.testing.assert_array_equal(f[2, 40, 24:26], [1, 0])
    np.testing.assert_array_equal(f[3, 40, 24:26], [1, 0])
