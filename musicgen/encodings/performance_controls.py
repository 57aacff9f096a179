"""Conditioning signals of Magenta's ``performance_controls``, computed on token ids.

Both walks reproduce note_seq's float arithmetic operation for operation (the same additions
in the same order), so the encoded inputs are bit-identical to Magenta's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from musicgen.encodings.performance import (
    NOTE_OFF_OFFSET,
    TIME_SHIFT_OFFSET,
    VELOCITY_OFFSET,
    IntArray,
)
from musicgen.encodings.performance_configs import (
    DENSITY_BIN_RANGES,
    DENSITY_WINDOW_SECONDS,
    PITCH_WINDOW_SECONDS,
    STEPS_PER_SECOND,
    Control,
    PerformanceConfig,
)

FloatArray = NDArray[np.float64]
NOTES_PER_OCTAVE = 12
PRIOR_COUNT = 0.01

_NOTE_ON, _NOTE_OFF, _SHIFT, _OTHER = 0, 1, 2, 3


def _kinds_and_values(ids: IntArray) -> tuple[list[int], list[int]]:
    kinds = np.full(len(ids), _OTHER, dtype=np.int64)
    values = np.zeros(len(ids), dtype=np.int64)
    on = ids < NOTE_OFF_OFFSET
    off = (ids >= NOTE_OFF_OFFSET) & (ids <= TIME_SHIFT_OFFSET)
    shift = (ids > TIME_SHIFT_OFFSET) & (ids <= VELOCITY_OFFSET)
    kinds[on], values[on] = _NOTE_ON, ids[on]
    kinds[off], values[off] = _NOTE_OFF, ids[off] - NOTE_OFF_OFFSET
    kinds[shift], values[shift] = _SHIFT, ids[shift] - TIME_SHIFT_OFFSET
    return kinds.tolist(), values.tolist()


def note_density(
    ids: IntArray,
    window_size_seconds: float = DENSITY_WINDOW_SECONDS,
    steps_per_second: int = STEPS_PER_SECOND,
) -> list[float]:
    """Notes per second in the window starting at each event (``NoteDensity...extract``).

    Events not preceded by a TIME_SHIFT repeat the previous value. The walk adds whole
    TIME_SHIFTs until it reaches the window, and divides by min(walked steps, window).
    """
    window = round(window_size_seconds * steps_per_second)
    kinds, values = _kinds_and_values(ids)
    n = len(kinds)
    out: list[float] = []
    prev_kind: int | None = None
    prev_density = 0.0
    for i in range(n):
        if prev_kind is not None and prev_kind != _SHIFT:
            out.append(prev_density)
            prev_kind = kinds[i]
            continue
        j, offset, count = i, 0, 0
        while offset < window and j < n:
            if kinds[j] == _NOTE_ON:
                count += 1
            elif kinds[j] == _SHIFT:
                offset += values[j]
            j += 1
        actual = min(offset, window)
        density = count * steps_per_second / actual if actual > 0 else 0.0
        out.append(density)
        prev_kind = kinds[i]
        prev_density = density
    return out


def pitch_histogram(
    ids: IntArray,
    window_size_seconds: float = PITCH_WINDOW_SECONDS,
    steps_per_second: int = STEPS_PER_SECOND,
    prior_count: float = PRIOR_COUNT,
) -> list[list[float]]:
    """Pitch-class seconds in the window from each event (``PitchHistogram...extract``).

    Active pitches are a *set*; each TIME_SHIFT adds shift/steps_per_second to the class of
    every active pitch. The first event repeats nothing; later events not preceded by a
    TIME_SHIFT reuse the previous histogram.
    """
    window = round(window_size_seconds * steps_per_second)
    kinds, values = _kinds_and_values(ids)
    n = len(kinds)
    base_active: set[int] = set()
    out: list[list[float]] = []
    prev_kind: int | None = None
    prev: list[float] = [1.0] * NOTES_PER_OCTAVE
    for i in range(n):
        if kinds[i] == _NOTE_ON:
            base_active.add(values[i])
        elif kinds[i] == _NOTE_OFF:
            base_active.discard(values[i])
        if prev_kind is not None and prev_kind != _SHIFT:
            out.append(prev)
            prev_kind = kinds[i]
            continue
        active = set(base_active)
        hist = [prior_count] * NOTES_PER_OCTAVE
        j, offset = i, 0
        while offset < window and j < n:
            kind, value = kinds[j], values[j]
            if kind == _NOTE_ON:
                active.add(value)
            elif kind == _NOTE_OFF:
                active.discard(value)
            elif kind == _SHIFT:
                seconds = value / steps_per_second
                for pitch in active:
                    hist[pitch % NOTES_PER_OCTAVE] += seconds
                offset += value
            j += 1
        out.append(hist)
        prev_kind = kinds[i]
        prev = hist
    return out


def density_one_hot(densities: Sequence[float]) -> FloatArray:
    """One-hot of 8 bins: first i with density < edges[i], else 7."""
    classes = np.searchsorted(np.asarray(DENSITY_BIN_RANGES), np.asarray(densities), side="right")
    out = np.zeros((len(densities), len(DENSITY_BIN_RANGES) + 1), dtype=np.float64)
    out[np.arange(len(densities)), classes] = 1.0
    return out


def histogram_inputs(histograms: Sequence[Sequence[float]]) -> FloatArray:
    """Each histogram divided by its (left-to-right) sum; uniform if the sum is 0."""
    rows = []
    for hist in histograms:
        total = 0.0
        for count in hist:
            total += count
        if total > 0:
            rows.append([count / total for count in hist])
        else:
            rows.append([1.0 / NOTES_PER_OCTAVE] * NOTES_PER_OCTAVE)
    return np.array(rows, dtype=np.float64).reshape(-1, NOTES_PER_OCTAVE)


def control_inputs(ids: IntArray, config: PerformanceConfig) -> FloatArray:
    """The conditioned control rows, one per event, in the config's signal order."""
    parts: list[FloatArray] = []
    for control in config.controls:
        if control is Control.DENSITY:
            parts.append(density_one_hot(note_density(ids)))
        else:
            parts.append(histogram_inputs(pitch_histogram(ids)))
    if config.optional_conditioning:
        parts.insert(0, np.zeros((len(ids), 1), dtype=np.float64))
    return np.concatenate(parts, axis=1) if parts else np.zeros((len(ids), 0))


def disabled_control_inputs(num_events: int, config: PerformanceConfig) -> FloatArray:
    """Rows for optional conditioning switched off: [1, 0, ..., 0]."""
    out = np.zeros((num_events, config.control_size), dtype=np.float64)
    out[:, 0] = 1.0
    return out
