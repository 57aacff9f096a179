"""Performance events as token ids: extraction from quantized NoteSequences, inputs, decoding.

Token ids are Magenta's one-hot class indices (``PerformanceOneHotEncoding``):

=========  ===================  ==============
ids        event                value
=========  ===================  ==============
0-127      NOTE_ON(p)           p
128-255    NOTE_OFF(p)          128 + p
256-355    TIME_SHIFT(s)        255 + s, s = 1..100
356-387    VELOCITY(b)          355 + b (only with velocity bins)
=========  ===================  ==============

The note encoding (``NotePerformance``) has one event per note instead, kept as an ``(n, 4)``
int array of (time shift, pitch, velocity bin, duration); its labels are ``(n, 6)``.
Everything here is pure: NoteSequences are read, never modified.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from note_seq import performance_lib
from note_seq.protobuf import music_pb2
from numpy.typing import NDArray

from musicgen.encodings.performance_configs import (
    MAX_SHIFT_STEPS,
    NOTE_MAX_DURATION_STEPS,
    NOTE_MAX_SHIFT_STEPS,
    NOTE_NUM_CLASSES,
    NUM_PITCHES,
    STEPS_PER_SECOND,
    Encoding,
    PerformanceConfig,
)

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

NOTE_ON_OFFSET = 0
NOTE_OFF_OFFSET = NUM_PITCHES
TIME_SHIFT_OFFSET = 2 * NUM_PITCHES - 1  # TIME_SHIFT(s) -> 255 + s
VELOCITY_OFFSET = 2 * NUM_PITCHES + MAX_SHIFT_STEPS - 1  # VELOCITY(b) -> 355 + b
MIN_VELOCITY = 1
MAX_VELOCITY = 127

TooManyTimeShiftStepsError = performance_lib.TooManyTimeShiftStepsError
TooManyDurationStepsError = performance_lib.TooManyDurationStepsError

# Note-encoding label segments: time shift (major, minor), duration (major, minor).
_SHIFT_PER_SEGMENT = (NOTE_MAX_SHIFT_STEPS + 1) // NOTE_NUM_CLASSES[0]  # 77
_DURATION_PER_SEGMENT = NOTE_MAX_DURATION_STEPS // NOTE_NUM_CLASSES[4]  # 40


def velocity_bin_size(num_velocity_bins: int) -> int:
    """ceil(127 / bins): 4 for 32 bins."""
    return math.ceil((MAX_VELOCITY - MIN_VELOCITY + 1) / num_velocity_bins)


def velocity_to_bin(velocity: int, num_velocity_bins: int) -> int:
    """Magenta's bin, 1..num_velocity_bins: (velocity - 1) // size + 1."""
    return (velocity - MIN_VELOCITY) // velocity_bin_size(num_velocity_bins) + 1


def velocity_bin_to_velocity(velocity_bin: int, num_velocity_bins: int) -> int:
    """The bin's lowest velocity (1, 5, ..., 125), as Magenta decodes it."""
    return MIN_VELOCITY + (velocity_bin - 1) * velocity_bin_size(num_velocity_bins)


def _note_arrays(quantized: music_pb2.NoteSequence, start_step: int) -> tuple[IntArray, ...]:
    """Notes with start >= start_step, sorted by (raw start seconds, pitch), stable."""
    notes = [n for n in quantized.notes if n.quantized_start_step >= start_step]
    start_time = np.array([n.start_time for n in notes], dtype=np.float64)
    pitch = np.array([n.pitch for n in notes], dtype=np.int64)
    order = np.lexsort((pitch, start_time))
    start = np.array([n.quantized_start_step for n in notes], dtype=np.int64)[order]
    end = np.array([n.quantized_end_step for n in notes], dtype=np.int64)[order]
    velocity = np.array([n.velocity for n in notes], dtype=np.int64)[order]
    return start, end, pitch[order], velocity


def performance_ids(
    quantized: music_pb2.NoteSequence,
    num_velocity_bins: int,
    start_step: int = 0,
    max_shift_steps: int = MAX_SHIFT_STEPS,
) -> IntArray:
    """The token ids of ``Performance(quantized, start_step, num_velocity_bins)``, untruncated.

    Same events as ``BasePerformance._from_quantized_sequence`` with ``instrument=None``: all
    notes (drums included), onsets and offsets sorted by (step, note index, is_offset), TIME_SHIFT
    chained in pieces of ``max_shift_steps``, VELOCITY emitted before a NOTE_ON on bin change.
    """
    start, end, pitch, velocity = _note_arrays(quantized, start_step)
    n = len(pitch)
    steps = np.concatenate([start, end])
    index = np.concatenate([np.arange(n), np.arange(n)])
    is_off = np.concatenate([np.zeros(n, np.int64), np.ones(n, np.int64)])
    order = np.lexsort((is_off, index, steps))
    note_ids = np.where(is_off == 1, NOTE_OFF_OFFSET, NOTE_ON_OFFSET) + pitch[index]
    if num_velocity_bins:
        bins = (velocity - MIN_VELOCITY) // velocity_bin_size(num_velocity_bins) + 1
    else:
        bins = np.zeros(n, np.int64)
    out: list[int] = []
    current_step = start_step
    current_bin = 0
    for step, idx, off, token in zip(
        steps[order].tolist(),
        index[order].tolist(),
        is_off[order].tolist(),
        note_ids[order].tolist(),
        strict=True,
    ):
        if step > current_step:
            while step > current_step + max_shift_steps:
                out.append(TIME_SHIFT_OFFSET + max_shift_steps)
                current_step += max_shift_steps
            out.append(TIME_SHIFT_OFFSET + step - current_step)
            current_step = step
        if num_velocity_bins and not off:
            b = int(bins[idx])
            if b != current_bin:
                current_bin = b
                out.append(VELOCITY_OFFSET + b)
        out.append(token)
    return np.array(out, dtype=np.int64)


def num_steps(ids: IntArray) -> int:
    """Total TIME_SHIFT steps of a performance (``BasePerformance.num_steps``)."""
    shifts = ids[(ids > TIME_SHIFT_OFFSET) & (ids <= VELOCITY_OFFSET)]
    return int((shifts - TIME_SHIFT_OFFSET).sum())


def note_performance_tuples(
    quantized: music_pb2.NoteSequence, num_velocity_bins: int, start_step: int = 0
) -> IntArray:
    """``NotePerformance`` events as an ``(n, 4)`` array: shift, pitch, velocity bin, duration.

    Raises:
        TooManyTimeShiftStepsError: A shift between note starts exceeds 1000 steps.
        TooManyDurationStepsError: A note is longer than 1000 steps.
    """
    start, end, pitch, velocity = _note_arrays(quantized, start_step)
    shift = np.diff(start, prepend=start_step)
    duration = end - start
    if len(shift) and shift.max() > NOTE_MAX_SHIFT_STEPS:
        raise TooManyTimeShiftStepsError(f"Too many steps for timeshift: {shift.max()}")
    if len(duration) and duration.max() > NOTE_MAX_DURATION_STEPS:
        raise TooManyDurationStepsError(f"Too many steps for duration: {duration.max()}")
    bins = (velocity - MIN_VELOCITY) // velocity_bin_size(num_velocity_bins) + 1
    return np.stack([shift, pitch, bins, duration], axis=1).astype(np.int64).reshape(-1, 4)


def note_labels(tuples: IntArray) -> IntArray:
    """The 6 class indices per note event (``NotePerformanceEventSequenceEncoderDecoder``)."""
    shift, pitch, bins, duration = (tuples[:, i] for i in range(4))
    return np.stack(
        [
            shift // _SHIFT_PER_SEGMENT,
            shift % _SHIFT_PER_SEGMENT,
            pitch,
            bins - 1,
            (duration - 1) // _DURATION_PER_SEGMENT,
            (duration - 1) % _DURATION_PER_SEGMENT,
        ],
        axis=1,
    ).astype(np.int64)


def note_labels_to_tuples(labels: IntArray) -> IntArray:
    """Inverse of :func:`note_labels`."""
    return np.stack(
        [
            labels[:, 0] * _SHIFT_PER_SEGMENT + labels[:, 1],
            labels[:, 2],
            labels[:, 3] + 1,
            labels[:, 4] * _DURATION_PER_SEGMENT + labels[:, 5] + 1,
        ],
        axis=1,
    ).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# ids <-> note_seq events, and decoding


def id_to_event(token: int) -> performance_lib.PerformanceEvent:
    """One token id as a ``PerformanceEvent``."""
    event = performance_lib.PerformanceEvent
    if token < NOTE_OFF_OFFSET:
        return event(event.NOTE_ON, token)
    if token <= TIME_SHIFT_OFFSET:
        return event(event.NOTE_OFF, token - NOTE_OFF_OFFSET)
    if token <= VELOCITY_OFFSET:
        return event(event.TIME_SHIFT, token - TIME_SHIFT_OFFSET)
    return event(event.VELOCITY, token - VELOCITY_OFFSET)


_TYPE_NAMES = {1: "NOTE_ON", 2: "NOTE_OFF", 3: "TIME_SHIFT", 4: "VELOCITY", 5: "DURATION"}


def ids_to_strings(ids: IntArray) -> list[str]:
    """Readable events, e.g. ``VELOCITY:27 NOTE_ON:62 TIME_SHIFT:25`` (provenance format)."""
    out = []
    for token in np.asarray(ids).tolist():
        event = id_to_event(token)
        out.append(f"{_TYPE_NAMES[event.event_type]}:{event.event_value}")
    return out


def event_to_id(event: performance_lib.PerformanceEvent) -> int:
    """Inverse of :func:`id_to_event`."""
    kind, value = event.event_type, event.event_value
    pe = performance_lib.PerformanceEvent
    offsets = {
        pe.NOTE_ON: NOTE_ON_OFFSET,
        pe.NOTE_OFF: NOTE_OFF_OFFSET,
        pe.TIME_SHIFT: TIME_SHIFT_OFFSET,
        pe.VELOCITY: VELOCITY_OFFSET,
    }
    return int(offsets[kind] + value)


def ids_to_performance(ids: IntArray, num_velocity_bins: int) -> performance_lib.Performance:
    """A note_seq ``Performance`` holding the events of ``ids``."""
    perf = performance_lib.Performance(
        steps_per_second=STEPS_PER_SECOND, num_velocity_bins=num_velocity_bins
    )
    for token in np.asarray(ids).tolist():
        perf.append(id_to_event(token))
    return perf


def performance_to_ids(perf: performance_lib.BasePerformance) -> IntArray:
    """Token ids of a note_seq ``Performance``."""
    return np.array([event_to_id(e) for e in perf], dtype=np.int64)


def decode_ids(ids: IntArray, num_velocity_bins: int) -> music_pb2.NoteSequence:
    """Token ids back to a NoteSequence (``Performance.to_sequence``, velocity 100 if no bins)."""
    return ids_to_performance(ids, num_velocity_bins).to_sequence()


def decode_note_tuples(tuples: IntArray, num_velocity_bins: int) -> music_pb2.NoteSequence:
    """Note-encoding events back to a NoteSequence, as ``NotePerformance.to_sequence``."""
    seq = music_pb2.NoteSequence()
    seq.ticks_per_quarter = 220  # note_seq.constants.STANDARD_PPQ
    seconds_per_step = 1.0 / STEPS_PER_SECOND
    step = 0
    for shift, pitch, vbin, duration in np.asarray(tuples).tolist():
        step += shift
        note = seq.notes.add()
        note.start_time = step * seconds_per_step
        note.end_time = (step + duration) * seconds_per_step
        note.pitch = pitch
        note.velocity = velocity_bin_to_velocity(vbin, num_velocity_bins)
        note.instrument = 0
        note.program = 0
        note.is_drum = False
        seq.total_time = max(seq.total_time, note.end_time)
    return seq


def quantized_for_ids(seq: music_pb2.NoteSequence) -> music_pb2.NoteSequence:
    """Absolute-quantizes a decoded sequence at 100 steps/s (for re-encoding)."""
    from note_seq import sequences_lib

    return sequences_lib.quantize_note_sequence_absolute(seq, STEPS_PER_SECOND)


# ---------------------------------------------------------------------------------------------
# event inputs


@lru_cache(maxsize=4)
def _modulo_table(num_velocity_bins: int) -> FloatArray:
    """Row i: the modulo input of token i, computed by note_seq's own encoder."""
    from note_seq.performance_encoder_decoder import (
        ModuloPerformanceEventSequenceEncoderDecoder,
    )

    enc = ModuloPerformanceEventSequenceEncoderDecoder(num_velocity_bins=num_velocity_bins)
    n = 2 * NUM_PITCHES + MAX_SHIFT_STEPS + num_velocity_bins
    events = [id_to_event(i) for i in range(n)]
    table = np.array([enc.events_to_input(events, i) for i in range(n)], dtype=np.float64)
    table.flags.writeable = False
    return table


def event_inputs(events: IntArray, config: PerformanceConfig) -> FloatArray:
    """The event part of each input row, one row per event (ids, or note tuples)."""
    if config.encoding is Encoding.NOTE:
        labels = note_labels(events)
        out = np.zeros((len(labels), sum(NOTE_NUM_CLASSES)), dtype=np.float64)
        offsets = np.cumsum((0, *NOTE_NUM_CLASSES[:-1]))
        rows = np.arange(len(labels))
        for k, offset in enumerate(offsets.tolist()):
            out[rows, offset + labels[:, k]] = 1.0
        return out
    if config.encoding is Encoding.COMPACT:
        return events.astype(np.float64).reshape(-1, 1)
    if config.encoding is Encoding.MODULO:
        return _modulo_table(config.num_velocity_bins)[events]
    out = np.zeros((len(events), config.num_event_classes), dtype=np.float64)
    out[np.arange(len(events)), events] = 1.0
    return out


def event_labels(events: IntArray, config: PerformanceConfig) -> IntArray:
    """One label per event: the id, or the 6 note-encoding classes."""
    if config.encoding is Encoding.NOTE:
        return note_labels(events)
    return np.asarray(events, dtype=np.int64)
