"""Johnson's (2017) per-note input features for the biaxial / tied-parallel LSTM.

For every step t and note n of a roll with P = 88 columns, ``features`` returns F = 79 float32
values, laid out as follows (``prev`` is step t - 1; at t = 0 it is all silent):

============  =====  ============================================================================
slice         width  meaning
============  =====  ============================================================================
``[0:50]``    50     vicinity of n in ``prev``: for offset d = -12..+12 (i = d + 12),
                     ``[2i]`` = note n + d plays, ``[2i + 1]`` = it is articulated (starts) there;
                     interleaved as in Johnson's code; 0 beyond the keyboard edges.
``[50]``      1      MIDI pitch of n (21..108 for the default roll), as a float.
``[51:63]``   12     pitch class of n, one-hot (index 0 = C).
``[63:67]``   4      beat position ``t mod 16`` in binary, least significant bit first, 0/1.
``[67:79]``   12     pitch-class counts of ``prev`` relative to n, as in Johnson's code:
                     ``[67 + k]`` = number of notes sounding in ``prev`` whose pitch class is
                     (pitch class of n + k) mod 12, so k = 0 counts n's own pitch class.
============  =====  ============================================================================

The relative counts (rather than absolute C..B counts) are Johnson's choice: together with the
vicinity they make the features, apart from pitch and pitch class, transposition-invariant.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from musicgen.encodings.pianoroll import PianoRoll

VICINITY = 12
VICINITY_WIDTH = 2 * (2 * VICINITY + 1)  # 50
BEAT_BITS = 4
NUM_FEATURES = VICINITY_WIDTH + 1 + 12 + BEAT_BITS + 12  # 79

VICINITY_SLICE = slice(0, 50)
PITCH_INDEX = 50
PITCH_CLASS_SLICE = slice(51, 63)
BEAT_SLICE = slice(63, 67)
CONTEXT_SLICE = slice(67, 79)


def _frames_and_onsets(roll: PianoRoll | np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    if isinstance(roll, PianoRoll):
        frames = np.asarray(roll.frames, bool)
        return frames, np.asarray(roll.onsets, bool) & frames, roll.min_pitch
    frames = np.asarray(roll, bool)
    # A bare roll (the B-L pickles) cannot tell a re-struck note from a held one: a note
    # articulates only where it was silent the step before.
    prev = np.zeros_like(frames)
    prev[1:] = frames[:-1]
    return frames, frames & ~prev, 21


def features(roll: PianoRoll | np.ndarray) -> np.ndarray:
    """Per-note input features of every step, laid out as the module docstring describes.

    Args:
        roll: a :class:`PianoRoll`, or a bool [T, P] frame array whose column 0 is MIDI 21
            (onsets are then derived: a note articulates where it was silent the step before).

    Returns:
        float32 [T, P, 79].
    """
    frames, onsets, min_pitch = _frames_and_onsets(roll)
    num_steps, num_pitches = frames.shape
    prev_play = np.zeros((num_steps, num_pitches), np.float32)
    prev_art = np.zeros((num_steps, num_pitches), np.float32)
    prev_play[1:] = frames[:-1]
    prev_art[1:] = onsets[:-1]

    pad = ((0, 0), (VICINITY, VICINITY))
    window = 2 * VICINITY + 1
    play = sliding_window_view(np.pad(prev_play, pad), window, axis=1)  # [T, P, 25]
    art = sliding_window_view(np.pad(prev_art, pad), window, axis=1)
    vicinity = np.stack([play, art], axis=-1).reshape(num_steps, num_pitches, VICINITY_WIDTH)

    midi = np.arange(num_pitches) + min_pitch
    pitch_class = midi % 12
    pc_onehot = np.eye(12, dtype=np.float32)[pitch_class]  # [P, 12]

    steps = np.arange(num_steps) % 16
    beat = ((steps[:, None] >> np.arange(BEAT_BITS)) & 1).astype(np.float32)  # [T, 4]

    counts = prev_play @ pc_onehot  # [T, 12], absolute pitch classes
    relative = (pitch_class[:, None] + np.arange(12)) % 12  # [P, 12]
    context = counts[:, relative]  # [T, P, 12]

    out = np.empty((num_steps, num_pitches, NUM_FEATURES), np.float32)
    out[:, :, VICINITY_SLICE] = vicinity
    out[:, :, PITCH_INDEX] = midi.astype(np.float32)
    out[:, :, PITCH_CLASS_SLICE] = pc_onehot
    out[:, :, BEAT_SLICE] = beat[:, None, :]
    out[:, :, CONTEXT_SLICE] = context
    return out
