"""Magenta's PerformanceRNN data pipeline (``performance_pipeline.get_pipeline``), pure.

Stages, in Magenta's order: sustain -> stretch -> 30 s split -> quantize (100 steps/s) ->
transpose -> extract (one program, truncate to 512, discard < 32) -> encode. Each stage returns
new NoteSequences; the argument is never modified. :func:`magenta_pipeline` yields the examples
of one input NoteSequence in Magenta's record order (stretch factor, chunk, transposition) and
counts Magenta's statistics under Magenta's names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from note_seq import sequences_lib
from note_seq.protobuf.music_pb2 import NoteSequence

from musicgen.encodings import performance as perf
from musicgen.encodings.performance_configs import STEPS_PER_SECOND, PerformanceConfig
from musicgen.encodings.performance_controls import control_inputs, disabled_control_inputs

SUSTAIN_CONTROL_NUMBER = 64
TRAINING_STRETCH_FACTORS = (0.95, 0.975, 1.0, 1.025, 1.05)
TRAINING_TRANSPOSITIONS = tuple(range(-3, 4))
HOP_SIZE_SECONDS = 30.0
MIN_EVENTS = 32
MAX_EVENTS = 512
MIN_PITCH = 0
MAX_PITCH = 127
LENGTH_BUCKETS = (5, 10, 20, 30, 40, 60, 120)


def apply_sustain(ns: NoteSequence) -> NoteSequence:
    """CC64 sustain applied to note ends (``apply_sustain_control_changes``); a new sequence."""
    return sequences_lib.apply_sustain_control_changes(ns, SUSTAIN_CONTROL_NUMBER)


def stretch(ns: NoteSequence, factor: float) -> NoteSequence:
    """All times multiplied by ``factor`` (tempos divided); a new sequence."""
    return sequences_lib.stretch_note_sequence(ns, factor, in_place=False)


def split(ns: NoteSequence, hop_seconds: float = HOP_SIZE_SECONDS) -> list[NoteSequence]:
    """Chunks at multiples of ``hop_seconds`` (notes clipped, tails lost); [] without notes."""
    return list(sequences_lib.split_note_sequence(ns, hop_seconds))


def quantize(ns: NoteSequence, steps_per_second: int = STEPS_PER_SECOND) -> NoteSequence:
    """Absolute quantization: ``int(t * sps + 0.5)``, zero-length notes get one step."""
    return sequences_lib.quantize_note_sequence_absolute(ns, steps_per_second)


def transpose(
    ns: NoteSequence, amount: int, min_pitch: int = MIN_PITCH, max_pitch: int = MAX_PITCH
) -> NoteSequence | None:
    """Non-drum pitches shifted by ``amount``, or None if any would leave the range.

    As Magenta's ``TranspositionPipeline._transpose``: drums stay, key signatures and chord
    symbols are not changed, and amount 0 still checks the range.
    """
    out = NoteSequence()
    out.CopyFrom(ns)
    for note in out.notes:
        if not note.is_drum:
            note.pitch += amount
            if note.pitch < min_pitch or note.pitch > max_pitch:
                return None
    return out


@dataclass(frozen=True)
class Example:
    """One training example: the events, and the model's inputs and labels.

    Attributes:
        events: Token ids (``(n,)``), or note tuples (``(n, 4)``) for the note encoding.
        inputs: ``(n - 1, input_size)`` floats; row i encodes event i (and control i + 1).
        labels: ``(n - 1,)`` ints (``(n - 1, 6)`` for the note encoding): event i + 1.
        stretch_factor: The augmentation stretch.
        chunk_index: Index of the 30 s chunk in the stretched sequence.
        transpose: Semitones.
        conditioned: For optional conditioning, whether controls are enabled; else None.
    """

    events: perf.IntArray
    inputs: perf.FloatArray
    labels: perf.IntArray
    stretch_factor: float = 1.0
    chunk_index: int = 0
    transpose: int = 0
    conditioned: bool | None = None


def extract_events(
    quantized: NoteSequence, config: PerformanceConfig, stats: Counter[str], prefix: str = ""
) -> perf.IntArray | None:
    """Magenta's ``extract_performances`` for one chunk; None when discarded.

    Discards chunks whose notes have more than one program (drums count), truncates to 512
    events, and discards those below 32. Counters are incremented under ``prefix + name``.
    """
    programs = {note.program for note in quantized.notes}
    if len(programs) > 1:
        stats[prefix + "performances_discarded_more_than_1_program"] += 1
        return None
    events: perf.IntArray
    if config.note_performance:
        try:
            events = perf.note_performance_tuples(quantized, config.num_velocity_bins)
        except perf.TooManyTimeShiftStepsError:
            stats[prefix + "performance_discarded_too_many_time_shift_steps"] += 1
            return None
        except perf.TooManyDurationStepsError:
            stats[prefix + "performance_discarded_too_many_duration_steps"] += 1
            return None
    else:
        events = perf.performance_ids(quantized, config.num_velocity_bins)
    if len(events) > MAX_EVENTS:
        events = events[:MAX_EVENTS]
        stats[prefix + "performances_truncated"] += 1
    if len(events) < MIN_EVENTS:
        stats[prefix + "performances_discarded_too_short"] += 1
        return None
    if config.note_performance:
        steps = int(events[:, 0].sum() + events[-1, 3]) if len(events) else 0
    else:
        steps = perf.num_steps(events)
    stats[prefix + "performance_lengths_in_seconds:" + _bucket(steps // STEPS_PER_SECOND)] += 1
    return events


def _bucket(value: int) -> str:
    edges = (float("-inf"), *LENGTH_BUCKETS, float("inf"))
    for lo, hi in pairwise(edges):
        if lo <= value < hi:
            return f"[{_edge(lo)},{_edge(hi)})"
    raise AssertionError(value)


def _edge(value: float) -> str:
    return str(int(value)) if np.isfinite(value) else ("-inf" if value < 0 else "inf")


def encode_events(
    events: perf.IntArray, config: PerformanceConfig
) -> list[tuple[perf.FloatArray, perf.IntArray, bool | None]]:
    """Inputs and labels of one performance (two pairs for optional conditioning).

    Row i of the inputs is [control at i + 1 | event i]; label i is event i + 1.
    """
    event_part = perf.event_inputs(events[:-1], config)
    labels = perf.event_labels(events[1:], config)
    if not config.controls:
        return [(event_part, labels, None)]
    controls = control_inputs(events, config)[1:]
    flag = True if config.optional_conditioning else None
    out: list[tuple[perf.FloatArray, perf.IntArray, bool | None]] = [
        (np.concatenate([controls, event_part], axis=1), labels, flag)
    ]
    if config.optional_conditioning:
        off = disabled_control_inputs(len(event_part), config)
        out.append((np.concatenate([off, event_part], axis=1), labels, False))
    return out


def stat_prefix(stage: str, training: bool) -> str:
    """Magenta's counter prefix, e.g. ``DAGPipeline_PerformanceExtractor_training_``."""
    branch = "training" if training else "eval"
    return f"DAGPipeline_{stage}_{branch}_"


def magenta_pipeline(
    ns: NoteSequence,
    config: PerformanceConfig,
    training: bool,
    stats: Counter[str] | None = None,
) -> Iterator[Example]:
    """Yields the examples Magenta writes for one input NoteSequence, in record order.

    Args:
        ns: An unquantized NoteSequence (not modified).
        config: The PerformanceRNN config.
        training: The training branch (stretch and transpose) or the eval branch.
        stats: If given, Magenta's counters are added to it (``DAGPipeline_...`` names; the
            length histogram as ``..._performance_lengths_in_seconds:[lo,hi)``).
    """
    stats = Counter() if stats is None else stats
    branch = "training_performances" if training else "eval_performances"
    stats[f"DAGPipeline_RandomPartition_{branch}_count"] += 1
    factors = TRAINING_STRETCH_FACTORS if training else (1.0,)
    amounts = TRAINING_TRANSPOSITIONS if training else (0,)
    transposition = stat_prefix("TranspositionPipeline", training)
    extractor = stat_prefix("PerformanceExtractor", training)
    for name in ("skipped_due_to_range_exceeded", "transpositions_generated"):
        stats[transposition + name] += 0
    for name in (
        "performances_discarded_too_short",
        "performances_truncated",
        "performances_truncated_timewise",
        "performances_discarded_more_than_1_program",
        "performance_discarded_too_many_time_shift_steps",
        "performance_discarded_too_many_duration_steps",
    ):
        stats[extractor + name] += 0
    sustained = apply_sustain(ns)
    for factor in factors:
        for chunk_index, chunk in enumerate(split(stretch(sustained, factor))):
            quantized = quantize(chunk)
            transposed: list[tuple[int, NoteSequence]] = []
            for amount in amounts:
                moved = transpose(quantized, amount)
                if moved is None:
                    stats[transposition + "skipped_due_to_range_exceeded"] += 1
                else:
                    transposed.append((amount, moved))
            stats[transposition + "transpositions_generated"] += len(transposed)
            for amount, seq in transposed:
                events = extract_events(seq, config, stats, extractor)
                if events is None:
                    continue
                for inputs, labels, conditioned in encode_events(events, config):
                    yield Example(
                        events=events,
                        inputs=inputs,
                        labels=labels,
                        stretch_factor=factor,
                        chunk_index=chunk_index,
                        transpose=amount,
                        conditioned=conditioned,
                    )
