"""Magenta's PerformanceRNN pipeline on note arrays: :func:`augment.magenta_pipeline`, vectorized.

The input proto is read once into numpy arrays; sustain, stretch, the 30 s split, quantization,
extraction and encoding then run on arrays, for all stretch factors and chunks at once. Each
stage repeats note_seq's float64 operations in note_seq's order (``t * f``, ``t - split``,
``int(t * 100 + 0.5)``), so the steps, and therefore the events, are bit-identical to Magenta's.
Transposition does not re-encode: a chunk without drums keeps its event order under a pitch
shift (notes are sorted by (start, pitch)), so its NOTE_ON/NOTE_OFF ids are shifted instead.
Sustain is vectorized too, except for the rare sequence with duplicate notes under a pedal,
where note_seq's equality-based bookkeeping decides and its own function is called.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from note_seq import sequences_lib
from note_seq.protobuf.music_pb2 import NoteSequence
from numpy.typing import NDArray

from musicgen.encodings import augment
from musicgen.encodings import performance as perf
from musicgen.encodings.performance_configs import (
    MAX_SHIFT_STEPS,
    NOTE_MAX_DURATION_STEPS,
    NOTE_MAX_SHIFT_STEPS,
    STEPS_PER_SECOND,
    PerformanceConfig,
)

IntArray = perf.IntArray
FloatArray = perf.FloatArray
BoolArray = NDArray[np.bool_]

# apply_sustain_control_changes' event kinds; at equal times they are processed in this order.
_SUSTAIN_ON, _SUSTAIN_OFF, _NOTE_ON, _NOTE_OFF = 0, 1, 2, 3
_NONE = np.iinfo(np.int64).max  # "no such event" position


@dataclass(frozen=True)
class ExtractedPerformance:
    """One extracted performance, before encoding (``augment.encode_events`` makes the inputs).

    Attributes:
        events: Token ids ``(n,)``, or ``(n, 4)`` note tuples for the note encoding: exactly
            what ``augment.extract_events`` returns.
        stretch_factor: The augmentation stretch.
        chunk_index: Index of the 30 s chunk in the stretched sequence.
        transpose: Semitones.
    """

    events: IntArray
    stretch_factor: float
    chunk_index: int
    transpose: int


@dataclass(frozen=True)
class _Notes:
    """A sequence's notes as columns, in proto order."""

    start: FloatArray
    end: FloatArray
    pitch: IntArray
    velocity: IntArray
    instrument: IntArray
    program: IntArray
    is_drum: BoolArray


def _notes(ns: NoteSequence) -> _Notes:
    rows = [
        (n.start_time, n.end_time, n.pitch, n.velocity, n.instrument, n.program, n.is_drum)
        for n in ns.notes
    ]
    a = np.array(rows, dtype=np.float64).reshape(-1, 7)
    ints = a[:, 2:].astype(np.int64)
    return _Notes(
        a[:, 0].copy(),
        a[:, 1].copy(),
        ints[:, 0].copy(),
        ints[:, 1].copy(),
        ints[:, 2].copy(),
        ints[:, 3].copy(),
        ints[:, 4] != 0,
    )


def _has_equal_notes(notes: _Notes, pedalled: IntArray) -> bool:
    """Whether two non-drum notes may compare equal as protos while sustain is applied.

    note_seq finds and removes notes by proto *equality* (``in``, ``list.remove``,
    ``notes.remove``), which only differs from identity for notes that share start, pitch,
    instrument, velocity and program (the fields sustain never changes), and only under a
    pedal: without one no note is changed before the last event.
    """
    mask = ~notes.is_drum & np.isin(notes.instrument, pedalled)
    keys = (
        notes.program[mask],
        notes.velocity[mask],
        notes.instrument[mask],
        notes.pitch[mask],
        notes.start[mask],
    )
    order = np.lexsort(keys)
    same = np.ones(max(len(order) - 1, 0), dtype=bool)
    for key in keys:
        ordered = key[order]
        same &= ordered[1:] == ordered[:-1]
    return bool(same.any())


def _last_before(keys: IntArray, query: IntArray, stride: int) -> tuple[IntArray, BoolArray]:
    """Index of the last ``keys`` entry < query in the query's group, and whether there is one.

    Keys are sorted composites ``group * stride + position``.
    """
    if len(keys) == 0:
        return np.zeros(len(query), dtype=np.int64), np.zeros(len(query), dtype=bool)
    i = np.searchsorted(keys, query, side="left") - 1
    i_c = np.maximum(i, 0)
    return i_c, (i >= 0) & (keys[i_c] // stride == query // stride)


def _first_after(keys: IntArray, query: IntArray, stride: int) -> tuple[IntArray, BoolArray]:
    """Index of the first ``keys`` entry > query in the query's group, and whether there is one."""
    if len(keys) == 0:
        return np.zeros(len(query), dtype=np.int64), np.zeros(len(query), dtype=bool)
    i = np.searchsorted(keys, query, side="right")
    i_c = np.minimum(i, len(keys) - 1)
    return i_c, (i < len(keys)) & (keys[i_c] // stride == query // stride)


def _sustained(ns: NoteSequence) -> tuple[_Notes, float]:
    """``apply_sustain_control_changes(ns, 64)`` as arrays (notes in proto order, total_time).

    A note's fate does not depend on the other notes' fates: it ends at the first of (b) a
    same-pitch onset on its instrument while that pedal is down (deleted if that onset is at
    its own start), (a) its own note-off with the pedal up, (c) the first pedal release after
    its note-off (after its onset when the note-off sorts first), or (d) the last event.
    """
    notes = _notes(ns)
    cc = np.array(
        [
            (c.time, c.control_value, c.instrument)
            for c in ns.control_changes
            if c.control_number == augment.SUSTAIN_CONTROL_NUMBER
        ],
        dtype=np.float64,
    ).reshape(-1, 3)
    if _has_equal_notes(notes, cc[cc[:, 1] >= 64, 2].astype(np.int64)):
        sustained = augment.apply_sustain(ns)  # rare: duplicate notes under a pedal
        return _notes(sustained), float(sustained.total_time)
    total = float(ns.total_time)
    nd = np.flatnonzero(~notes.is_drum)
    k = len(nd)
    if k == 0:
        return notes, total
    start, end = notes.start[nd], notes.end[nd]
    times = np.concatenate([start, end, cc[:, 0]])
    cc_kind = np.where(cc[:, 1] >= 64, _SUSTAIN_ON, _SUSTAIN_OFF)
    kinds = np.concatenate([np.full(k, _NOTE_ON), np.full(k, _NOTE_OFF), cc_kind])
    order = np.lexsort((kinds, times))  # stable: ties keep list order, as Python's sort does
    n_ev = len(order)
    pos = np.empty(n_ev, dtype=np.int64)
    pos[order] = np.arange(n_ev)
    last_time = float(times[order[-1]])
    pos_on, pos_off, pos_cc = pos[:k], pos[k : 2 * k], pos[2 * k :]

    _, codes = np.unique(
        np.concatenate([notes.instrument[nd], cc[:, 2].astype(np.int64)]), return_inverse=True
    )
    base = codes[:k] * n_ev
    cc_key = codes[k:] * n_ev + pos_cc
    cc_order = np.argsort(cc_key)
    cc_key, cc_on, cc_time = cc_key[cc_order], (cc_kind == _SUSTAIN_ON)[cc_order], cc[cc_order, 0]
    i, found = _last_before(cc_key, base + pos_on, n_ev)
    pedal_at_on = found & cc_on[i] if len(cc_on) else found
    i, found = _last_before(cc_key, base + pos_off, n_ev)
    pedal_at_off = found & cc_on[i] if len(cc_on) else found

    # (b): strikers are onsets made with the pedal down, grouped by (instrument, pitch).
    pitch = notes.pitch[nd] - notes.pitch[nd].min()
    pitch_group = (codes[:k] * (int(pitch.max()) + 1) + pitch) * n_ev
    strikers = np.flatnonzero(pedal_at_on)
    striker_key = pitch_group[strikers] + pos_on[strikers]
    s_order = np.argsort(striker_key)
    strikers, striker_key = strikers[s_order], striker_key[s_order]
    i, has_b = _first_after(striker_key, pitch_group + pos_on, n_ev)
    striker = strikers[i] if len(strikers) else np.zeros(k, dtype=np.int64)
    pos_b = np.where(has_b, pos_on[striker], _NONE)

    # (a) or (c).
    normal = pos_off > pos_on
    own_off = normal & ~pedal_at_off
    releases = ~cc_on
    rel_key, rel_time = cc_key[releases], cc_time[releases]
    j, has_c = _first_after(rel_key, base + np.where(normal, pos_off, pos_on), n_ev)
    has_c &= ~own_off
    pos_c = rel_key[j] % n_ev if len(rel_key) else np.zeros(k, dtype=np.int64)
    pos_ac = np.where(own_off, pos_off, np.where(has_c, pos_c, _NONE))

    by_b = pos_b < pos_ac
    by_c = ~by_b & has_c
    by_end = ~by_b & ~own_off & ~has_c
    new_end = end.copy()
    if by_b.any():
        new_end[by_b] = start[striker[by_b]]
    if by_c.any():
        new_end[by_c] = rel_time[j[by_c]]
        total = max(total, float(rel_time[j[by_c]].max()))
    if by_end.any():
        new_end[by_end] = last_time
        total = last_time
    all_end = notes.end.copy()
    all_end[nd] = new_end
    keep = np.ones(len(notes.start), dtype=bool)
    keep[nd[by_b & (start == new_end)]] = False
    return (
        _Notes(
            notes.start[keep],
            all_end[keep],
            notes.pitch[keep],
            notes.velocity[keep],
            notes.instrument[keep],
            notes.program[keep],
            notes.is_drum[keep],
        ),
        total,
    )


# ---------------------------------------------------------------------------------------------
# stretch, split, quantize: all stretch factors and chunks at once


@dataclass(frozen=True)
class _Chunks:
    """The notes of every non-empty (factor, chunk), sorted as ``Performance`` sorts them.

    Notes are sorted by (chunk, start seconds, pitch, stretched start, proto index); ``seg`` is
    a global chunk number, factor-major, so a sort on it is Magenta's record order.
    """

    seg: IntArray
    rel_start: FloatArray
    stretched: FloatArray
    index: IntArray
    start_step: IntArray
    end_step: IntArray
    negative: BoolArray
    pitch: IntArray
    velocity: IntArray
    program: IntArray
    is_drum: BoolArray
    chunk_counts: list[int]  # chunks per factor


def _num_splits(total: float, hop: float) -> int:
    """``len(np.arange(hop, total, hop))``, computed as numpy does, without the array."""
    if not total > hop:
        return 0
    return max(0, math.ceil((total - hop) / hop))


def _chunks(notes: _Notes, total: float, factors: tuple[float, ...]) -> _Chunks:
    """``split_note_sequence(stretch(ns, f), 30)`` then absolute quantization, as arrays.

    Split times are ``arange(30, total, 30)`` (exactly 30 k) plus ``total``; a note goes to
    the chunk its start falls in, is re-based by float subtraction and its end clipped to the
    chunk's end. Notes starting before 0 or at or after ``total`` are dropped.
    """
    hop = augment.HOP_SIZE_SECONDS
    parts: list[tuple[IntArray, ...]] = []
    floats: list[tuple[FloatArray, ...]] = []
    counts: list[int] = []
    offset = 0
    for factor in factors:
        t_total = total * factor if factor != 1.0 else total
        s = notes.start * factor if factor != 1.0 else notes.start
        e = notes.end * factor if factor != 1.0 else notes.end
        splits = _num_splits(t_total, hop)
        chunks = splits + 1 if t_total > 0.0 else 0
        counts.append(chunks)
        keep = np.flatnonzero((s >= 0.0) & (s < t_total)) if chunks else np.zeros(0, np.int64)
        s, e = s[keep], e[keep]
        k = np.floor(s / hop)
        k -= hop * k > s
        k += hop * (k + 1) <= s
        k = np.minimum(k, splits)
        lo = hop * k
        hi = np.where(k < splits, hop * (k + 1), t_total)
        rel_s = s - lo
        rel_e = np.minimum(e, hi) - lo
        parts.append((offset + k.astype(np.int64), keep))
        floats.append((rel_s, rel_e, s))
        offset += chunks
    seg = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    index = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    rel_s = np.concatenate([f[0] for f in floats]) if floats else np.zeros(0)
    rel_e = np.concatenate([f[1] for f in floats]) if floats else np.zeros(0)
    stretched = np.concatenate([f[2] for f in floats]) if floats else np.zeros(0)
    pitch = notes.pitch[index]
    order = np.lexsort((index, stretched, pitch, rel_s, seg))
    seg, index, rel_s, rel_e, stretched = (
        seg[order],
        index[order],
        rel_s[order],
        rel_e[order],
        stretched[order],
    )
    q_s = np.trunc(rel_s * STEPS_PER_SECOND + 0.5)
    q_e = np.trunc(rel_e * STEPS_PER_SECOND + 0.5)
    q_e += q_e == q_s
    negative = (q_s < 0) | (q_e < 0)
    return _Chunks(
        seg=seg,
        rel_start=rel_s,
        stretched=stretched,
        index=index,
        start_step=np.where(negative, 0, q_s).astype(np.int64),
        end_step=np.where(negative, 0, q_e).astype(np.int64),
        negative=negative,
        pitch=notes.pitch[index],
        velocity=notes.velocity[index],
        program=notes.program[index],
        is_drum=notes.is_drum[index],
        chunk_counts=counts,
    )


# ---------------------------------------------------------------------------------------------
# encoding: Performance / NotePerformance events for many chunks at once


def _velocity_bins(velocity: IntArray, num_velocity_bins: int) -> IntArray:
    if not num_velocity_bins:
        return np.zeros(len(velocity), dtype=np.int64)
    return (velocity - perf.MIN_VELOCITY) // perf.velocity_bin_size(num_velocity_bins) + 1


@dataclass(frozen=True)
class _Encoded:
    """Token ids of several chunks, concatenated, with per-chunk token spans."""

    tokens: IntArray
    is_note: IntArray  # 1 where the token is NOTE_ON/NOTE_OFF: the ones a transposition shifts
    first: IntArray  # per chunk: index of its first token
    length: IntArray  # per chunk: untruncated number of tokens
    steps: IntArray  # per chunk: TIME_SHIFT steps in the first MAX_EVENTS tokens


def _performance_ids(
    rank: IntArray, start: IntArray, end: IntArray, pitch: IntArray, bins: IntArray, n_seg: int
) -> _Encoded:
    """``performance.performance_ids`` of ``n_seg`` chunks whose sorted notes are concatenated.

    ``rank`` is each note's chunk (0..n_seg-1, non-decreasing). Events are ordered by (chunk,
    step, note index, is_offset); each gap becomes ceil(gap / 100) TIME_SHIFTs (100, ..., rest)
    and a VELOCITY precedes a NOTE_ON whose bin differs from the chunk's previous onset's.
    """
    m = len(pitch)
    note = np.arange(m, dtype=np.int64)
    max_step = int(max(start.max(initial=0), end.max(initial=0))) + 1
    ev_note = np.concatenate([note, note])
    ev_off = np.repeat(np.array([0, 1], dtype=np.int64), m)
    ev_step = np.concatenate([start, end])
    ev_rank = np.concatenate([rank, rank])
    if n_seg * max_step * 2 * m < 2**62:
        key = ((ev_rank * max_step + ev_step) * m + ev_note) * 2 + ev_off
        order = np.argsort(key, kind="stable")
    else:
        order = np.lexsort((ev_off, ev_note, ev_step, ev_rank))
    ev_note, ev_off, ev_step, ev_rank = (
        ev_note[order],
        ev_off[order],
        ev_step[order],
        ev_rank[order],
    )
    first_event = np.ones(2 * m, dtype=bool)
    first_event[1:] = ev_rank[1:] != ev_rank[:-1]
    previous = np.empty(2 * m, dtype=np.int64)
    previous[0:1] = 0
    previous[1:] = ev_step[:-1]
    previous[first_event] = 0
    gap = ev_step - previous
    n_shift = (gap + MAX_SHIFT_STEPS - 1) // MAX_SHIFT_STEPS
    onsets = np.flatnonzero(ev_off == 0)
    new_bin = np.zeros(2 * m, dtype=np.int64)
    if len(onsets):
        ob = bins[ev_note[onsets]]
        prev_bin = np.empty(len(onsets), dtype=np.int64)
        prev_bin[0:1] = 0
        prev_bin[1:] = ob[:-1]
        onset_rank = ev_rank[onsets]
        first_onset = np.ones(len(onsets), dtype=bool)
        first_onset[1:] = onset_rank[1:] != onset_rank[:-1]
        prev_bin[first_onset] = 0
        new_bin[onsets] = ob != prev_bin
    count = n_shift + new_bin + 1
    stop = np.cumsum(count)
    begin = stop - count
    tokens = np.full(int(stop[-1]) if m else 0, perf.TIME_SHIFT_OFFSET + MAX_SHIFT_STEPS)
    has_shift = n_shift > 0
    last_shift = gap - MAX_SHIFT_STEPS * (n_shift - 1)
    tokens[(begin + n_shift - 1)[has_shift]] = perf.TIME_SHIFT_OFFSET + last_shift[has_shift]
    vel = new_bin == 1
    tokens[(begin + n_shift)[vel]] = perf.VELOCITY_OFFSET + bins[ev_note[vel]]
    tokens[stop - 1] = (
        np.where(ev_off == 1, perf.NOTE_OFF_OFFSET, perf.NOTE_ON_OFFSET) + pitch[ev_note]
    )
    is_note = np.zeros(len(tokens), dtype=np.int64)
    is_note[stop - 1] = 1
    length = np.bincount(ev_rank, weights=count, minlength=n_seg).astype(np.int64)
    first = np.cumsum(length) - length
    shift_steps = np.where(
        (tokens > perf.TIME_SHIFT_OFFSET) & (tokens <= perf.VELOCITY_OFFSET),
        tokens - perf.TIME_SHIFT_OFFSET,
        0,
    )
    cum = np.concatenate([[0], np.cumsum(shift_steps)])
    kept = np.minimum(length, augment.MAX_EVENTS)
    steps = cum[first + kept] - cum[first]
    return _Encoded(tokens, is_note, first, length, steps)


def _note_tuples(
    rank: IntArray, start: IntArray, end: IntArray, pitch: IntArray, bins: IntArray, n_seg: int
) -> tuple[IntArray, IntArray, IntArray, BoolArray, BoolArray]:
    """``NotePerformance`` tuples of concatenated chunks, per-chunk first row and count, and
    per-chunk flags for a time shift and a duration over 1000 steps."""
    m = len(pitch)
    first_note = np.ones(m, dtype=bool)
    first_note[1:] = rank[1:] != rank[:-1]
    previous = np.empty(m, dtype=np.int64)
    previous[0:1] = 0
    previous[1:] = start[:-1]
    previous[first_note] = 0
    shift = start - previous
    duration = end - start
    tuples = np.stack([shift, pitch, bins, duration], axis=1).astype(np.int64).reshape(-1, 4)
    length = np.bincount(rank, minlength=n_seg).astype(np.int64)
    first = np.cumsum(length) - length
    long_shift = np.bincount(rank, weights=shift > NOTE_MAX_SHIFT_STEPS, minlength=n_seg) > 0
    long_dur = np.bincount(rank, weights=duration > NOTE_MAX_DURATION_STEPS, minlength=n_seg) > 0
    return tuples, first, length, long_shift, long_dur


# ---------------------------------------------------------------------------------------------
# the pipeline


_EXTRACTOR_COUNTERS = (
    "performances_discarded_too_short",
    "performances_truncated",
    "performances_truncated_timewise",
    "performances_discarded_more_than_1_program",
    "performance_discarded_too_many_time_shift_steps",
    "performance_discarded_too_many_duration_steps",
)


def extract_performances(
    ns: NoteSequence,
    config: PerformanceConfig,
    training: bool,
    stats: Counter[str] | None = None,
) -> Iterator[ExtractedPerformance]:
    """The performances ``augment.magenta_pipeline`` encodes for ``ns``, in its record order.

    One item per performance (the optional-conditioning config's two records share it); encode
    with ``augment.encode_events(item.events, config)``. ``stats`` receives exactly the
    counters ``magenta_pipeline`` adds. ``ns`` is not modified.

    Raises:
        QuantizationStatusError: ``ns`` is quantized.
        NegativeTimeError: A chunk has a note ending before 0 (raised at that chunk, as
            note_seq's quantizer does, after the earlier chunks' items).
    """
    stats = Counter() if stats is None else stats
    branch = "training_performances" if training else "eval_performances"
    stats[f"DAGPipeline_RandomPartition_{branch}_count"] += 1
    factors = augment.TRAINING_STRETCH_FACTORS if training else (1.0,)
    amounts = augment.TRAINING_TRANSPOSITIONS if training else (0,)
    transposition = augment.stat_prefix("TranspositionPipeline", training)
    extractor = augment.stat_prefix("PerformanceExtractor", training)
    for name in ("skipped_due_to_range_exceeded", "transpositions_generated"):
        stats[transposition + name] += 0
    for name in _EXTRACTOR_COUNTERS:
        stats[extractor + name] += 0
    if sequences_lib.is_quantized_sequence(ns):
        raise sequences_lib.QuantizationStatusError(
            "Can only apply sustain to unquantized NoteSequence."
        )
    notes, total = _sustained(ns)
    chunks = _chunks(notes, total, factors)
    yield from _extract(chunks, factors, amounts, config, stats, transposition, extractor)


def _segment_reduce(values: NDArray[Any], starts: IntArray, end: int, op: np.ufunc) -> NDArray[Any]:
    """``op`` over each segment ``values[starts[i]:starts[i + 1]]``, the last ending at ``end``."""
    if len(starts) == 0:
        return np.zeros(0, dtype=values.dtype)
    return op.reduceat(values[:end], starts)


def _extract(
    ch: _Chunks,
    factors: tuple[float, ...],
    amounts: tuple[int, ...],
    config: PerformanceConfig,
    stats: Counter[str],
    transposition: str,
    extractor: str,
) -> Iterator[ExtractedPerformance]:
    """Transposes, extracts and counts every chunk in record order; chunks without notes are
    counted arithmetically (a 6-hour note makes thousands of them)."""
    n_amounts = len(amounts)
    total_chunks = sum(ch.chunk_counts)
    chunk_base = np.cumsum([0, *ch.chunk_counts])
    m = len(ch.seg)
    starts = np.flatnonzero(np.r_[True, ch.seg[1:] != ch.seg[:-1]]) if m else np.zeros(0, int)
    stops = np.r_[starts[1:], m].astype(np.int64)
    gids = ch.seg[starts]
    negative = _segment_reduce(ch.negative, starts, m, np.logical_or)
    limit = total_chunks
    if negative.any():
        bad = int(np.argmax(negative))
        limit = int(gids[bad])
        starts, stops, gids = starts[:bad], stops[:bad], gids[:bad]
    used = int(stops[-1]) if len(stops) else 0
    multi = _segment_reduce(ch.program, starts, used, np.minimum) != _segment_reduce(
        ch.program, starts, used, np.maximum
    )
    drums = _segment_reduce(ch.is_drum, starts, used, np.logical_or)
    tonal = _segment_reduce(~ch.is_drum, starts, used, np.logical_or)
    big = np.iinfo(np.int64).max // 4
    lowest = _segment_reduce(np.where(ch.is_drum, big, ch.pitch), starts, used, np.minimum)
    highest = _segment_reduce(np.where(ch.is_drum, -big, ch.pitch), starts, used, np.maximum)
    mixed = drums & tonal

    # One batch for the chunks whose events do not depend on the transposition.
    batch = ~multi & ~mixed
    rank_of_seg = np.cumsum(batch) - 1
    per_note = np.repeat(np.arange(len(starts)), stops - starts)
    selected = np.zeros(m, dtype=bool)
    selected[: len(per_note)] = batch[per_note]
    bins = _velocity_bins(ch.velocity, config.num_velocity_bins)
    sel = np.flatnonzero(selected)
    args = (
        rank_of_seg[per_note[sel]],
        ch.start_step[sel],
        ch.end_step[sel],
        ch.pitch[sel],
        bins[sel],
        int(batch.sum()),
    )
    if config.note_performance:
        tuples, t_first, t_len, long_shift, long_dur = _note_tuples(*args)
    else:
        encoded = _performance_ids(*args)

    next_gid = 0
    for s in range(len(starts)):
        gid = int(gids[s])
        _count_empty(gid - next_gid, n_amounts, stats, transposition, extractor)
        next_gid = gid + 1
        if tonal[s]:
            lo, hi = int(lowest[s]), int(highest[s])
            valid = [
                a for a in amounts if lo + a >= augment.MIN_PITCH and hi + a <= augment.MAX_PITCH
            ]
        else:
            valid = list(amounts)
        stats[transposition + "skipped_due_to_range_exceeded"] += n_amounts - len(valid)
        stats[transposition + "transpositions_generated"] += len(valid)
        if not valid:
            continue
        fi = int(np.searchsorted(chunk_base, gid, side="right")) - 1
        factor, chunk_index = factors[fi], gid - int(chunk_base[fi])
        if multi[s]:
            stats[extractor + "performances_discarded_more_than_1_program"] += len(valid)
            continue
        if mixed[s]:
            for amount in valid:
                events = _mixed_events(
                    ch, int(starts[s]), int(stops[s]), amount, bins, config, stats, extractor
                )
                events = _finish(events, config, stats, extractor, 1)
                if events is not None:
                    yield ExtractedPerformance(events, factor, chunk_index, amount)
            continue
        r = int(rank_of_seg[s])
        if config.note_performance:
            if long_shift[r]:
                stats[extractor + "performance_discarded_too_many_time_shift_steps"] += len(valid)
                continue
            if long_dur[r]:
                stats[extractor + "performance_discarded_too_many_duration_steps"] += len(valid)
                continue
            f0 = int(t_first[r])
            base = _finish(tuples[f0 : f0 + int(t_len[r])], config, stats, extractor, len(valid))
            if base is None:
                continue
            shift_rows = 0 if drums[s] else 1
            for amount in valid:
                events = base.copy()
                events[:, 1] += amount * shift_rows
                yield ExtractedPerformance(events, factor, chunk_index, amount)
        else:
            length = int(encoded.length[r])
            kept = min(length, augment.MAX_EVENTS)
            _count_length(length, int(encoded.steps[r]), stats, extractor, len(valid))
            if kept < augment.MIN_EVENTS:
                continue
            f0 = int(encoded.first[r])
            ids = encoded.tokens[f0 : f0 + kept]
            shift = encoded.is_note[f0 : f0 + kept] * (0 if drums[s] else 1)
            for amount in valid:
                yield ExtractedPerformance(ids + amount * shift, factor, chunk_index, amount)
    _count_empty(limit - next_gid, n_amounts, stats, transposition, extractor)
    if limit < total_chunks:
        fi = int(np.searchsorted(chunk_base, limit, side="right")) - 1
        raise sequences_lib.NegativeTimeError(
            f"Got negative note time in chunk {limit - int(chunk_base[fi])} of stretch "
            f"{factors[fi]}"
        )


def _count_empty(
    chunks: int, n_amounts: int, stats: Counter[str], transposition: str, extractor: str
) -> None:
    """Chunks without notes: every transposition is generated, and is too short."""
    if chunks > 0:
        stats[transposition + "transpositions_generated"] += chunks * n_amounts
        stats[extractor + "performances_discarded_too_short"] += chunks * n_amounts


def _count_length(length: int, steps: int, stats: Counter[str], extractor: str, n: int) -> None:
    """Counters of ``n`` equal performances of ``length`` events (``steps`` after truncation)."""
    if length > augment.MAX_EVENTS:
        stats[extractor + "performances_truncated"] += n
    if min(length, augment.MAX_EVENTS) < augment.MIN_EVENTS:
        stats[extractor + "performances_discarded_too_short"] += n
        return
    bucket = augment._bucket(steps // STEPS_PER_SECOND)
    stats[extractor + "performance_lengths_in_seconds:" + bucket] += n


def _finish(
    events: IntArray | None, config: PerformanceConfig, stats: Counter[str], extractor: str, n: int
) -> IntArray | None:
    """Truncation, the length check and the counters of ``n`` copies of ``events`` (untruncated);
    the truncated events, or None when too short."""
    if events is None:
        return None
    length = len(events)
    events = events[: augment.MAX_EVENTS]
    if config.note_performance:
        steps = int(events[:, 0].sum() + events[-1, 3]) if len(events) else 0
    else:
        steps = perf.num_steps(events)
    _count_length(length, steps, stats, extractor, n)
    return events if len(events) >= augment.MIN_EVENTS else None


def _mixed_events(
    ch: _Chunks,
    begin: int,
    end: int,
    amount: int,
    bins: IntArray,
    config: PerformanceConfig,
    stats: Counter[str],
    extractor: str,
) -> IntArray | None:
    """Untruncated events of a chunk with drum and pitched notes, transposed by ``amount``.

    The shift can move pitched notes past drums at the same start, so the notes are sorted
    again. None (and a counter) for the note encoding's too long shift or duration.
    """
    sl = slice(begin, end)
    pitch = ch.pitch[sl] + np.where(ch.is_drum[sl], 0, amount)
    order = np.lexsort((ch.index[sl], ch.stretched[sl], pitch, ch.rel_start[sl]))
    args = (
        np.zeros(end - begin, dtype=np.int64),
        ch.start_step[sl][order],
        ch.end_step[sl][order],
        pitch[order],
        bins[sl][order],
        1,
    )
    if not config.note_performance:
        return _performance_ids(*args).tokens
    tuples, _, _, long_shift, long_duration = _note_tuples(*args)
    if long_shift[0]:
        stats[extractor + "performance_discarded_too_many_time_shift_steps"] += 1
        return None
    if long_duration[0]:
        stats[extractor + "performance_discarded_too_many_duration_steps"] += 1
        return None
    return tuples
