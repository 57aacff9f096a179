"""MusPy-style quality metrics of generated NoteSequences, and a memorization check.

Pitch metrics ignore drum notes (their "pitches" name instruments); the empty-beat rate counts any
sounding note, drums included. A metric that is undefined for a sequence (e.g. polyphony without
notes) is ``None``, never NaN, so rows stay valid JSON. Beats are quarter notes on the sequence's
tempo map (120 qpm when it has none), as on the piano-roll grid.

Every metric of a generated piece is computed from its MIDI bytes (:func:`metrics_of_bytes`
parses them back), so the job that writes a piece, a re-run that finds it and a ``pull`` get the
same numbers for the same sha256. :data:`GENERATION_FACTS` name the manifest values that only
generation knows; they are recorded once, when the piece is generated.

The memorization check asks how many consecutive note tokens a sample shares with a training
corpus. :class:`CorpusIndex` hashes every n-gram of the corpus into flat numpy arrays (about 16
bytes per corpus token, picklable for Ray), finds candidate matches by hash and verifies and extends
them on the actual tokens, so the reported run length is exact whenever it is at least ``n``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from note_seq.protobuf.music_pb2 import NoteSequence

from musicgen.encodings.pianoroll import tempo_map

Metric = float | int | None

GENERATION_FACTS = ("events", "frames", "log_likelihood")
"""Manifest ``metrics`` keys that are facts of the generation (events or frames sampled, the
model's log-likelihood of them), not functions of the bytes: a re-run carries them over."""

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)  # natural minor
_EPS = 1e-6  # seconds/quarters: a note ending exactly on a beat does not sound in the next one


def _pitches(ns: NoteSequence) -> np.ndarray:
    return np.array([n.pitch for n in ns.notes if not n.is_drum], np.int64)


def pitch_range(ns: NoteSequence) -> int | None:
    """Highest minus lowest pitch, in semitones."""
    pitches = _pitches(ns)
    return int(pitches.max() - pitches.min()) if len(pitches) else None


def n_pitches_used(ns: NoteSequence) -> int:
    """Number of distinct pitches."""
    return len(set(_pitches(ns).tolist()))


def polyphony(ns: NoteSequence) -> float | None:
    """Mean number of notes sounding, over the time when at least one sounds (exact, no grid)."""
    notes = [
        (n.start_time, n.end_time) for n in ns.notes if not n.is_drum and n.end_time > n.start_time
    ]
    if not notes:
        return None
    times = np.array([t for pair in notes for t in pair], np.float64)
    steps = np.tile([1, -1], len(notes))
    order = np.lexsort((steps, times))  # at equal times, ends (-1) come before starts
    count = np.cumsum(steps[order])[:-1]
    span = np.diff(times[order])
    sounding = count > 0
    return float((count[sounding] * span[sounding]).sum() / span[sounding].sum())


def _pitch_class_histogram(ns: NoteSequence) -> np.ndarray:
    return np.bincount(_pitches(ns) % 12, minlength=12).astype(np.float64)


def pitch_class_entropy(ns: NoteSequence) -> float | None:
    """Shannon entropy (bits) of the notes' pitch-class histogram: 0 for one class, log2(12) max."""
    hist = _pitch_class_histogram(ns)
    if not hist.sum():
        return None
    p = hist[hist > 0] / hist.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


def scale_consistency(ns: NoteSequence) -> float | None:
    """Largest share of notes that fit one of the 24 major/natural-minor scales."""
    hist = _pitch_class_histogram(ns)
    if not hist.sum():
        return None
    best = max(
        hist[[(root + step) % 12 for step in scale]].sum()
        for root in range(12)
        for scale in (_MAJOR, _MINOR)
    )
    return float(best / hist.sum())


def quarters(ns: NoteSequence, times: np.ndarray) -> np.ndarray:
    """Quarter-note position of each time, integrating the sequence's tempo map."""
    starts, qpms = tempo_map(ns)
    seg_quarters = np.concatenate([[0.0], np.cumsum(np.diff(starts) * qpms[:-1] / 60.0)])
    seg = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(starts) - 1)
    return seg_quarters[seg] + (times - starts[seg]) * qpms[seg] / 60.0


def empty_beat_rate(ns: NoteSequence) -> float | None:
    """Share of beats (quarter notes, up to the sequence's end) in which no note sounds."""
    end = max([ns.total_time, *(n.end_time for n in ns.notes)])
    if end <= 0:
        return None
    starts = np.array([n.start_time for n in ns.notes], np.float64)
    ends = np.array([n.end_time for n in ns.notes], np.float64)
    q0, q1, (q_end,) = (quarters(ns, a) for a in (starts, ends, np.array([end])))
    n_beats = max(1, math.ceil(q_end - _EPS))
    first = np.clip(np.floor(q0 + _EPS).astype(np.int64), 0, n_beats - 1)
    stop = np.clip(np.ceil(q1 - _EPS).astype(np.int64), first + 1, n_beats)  # a hit sounds once
    depth = np.zeros(n_beats + 1, np.int64)
    np.add.at(depth, first, 1)
    np.add.at(depth, stop, -1)
    return float((np.cumsum(depth)[:n_beats] == 0).mean())


def note_tokens(
    ns: NoteSequence, *, step_s: float = 0.01, max_delta_steps: int = 100, intervals: bool = False
) -> list[int]:
    """One token per pitched note, in onset order: (pitch, onset delta in ``step_s`` steps).

    The delta since the previous onset is rounded and capped at ``max_delta_steps`` (1 s by
    default), so tempo-exact copies match while long rests do not split the token space.

    Args:
        ns: The sequence (drum notes are skipped: shared drum loops are not memorization).
        step_s: Onset quantum in seconds.
        max_delta_steps: Cap on the quantized onset delta.
        intervals: Use the interval from the previous pitch instead of the pitch, so transposed
            copies match too.

    Returns:
        Non-negative token ids.
    """
    notes = sorted((n.start_time, n.pitch) for n in ns.notes if not n.is_drum)
    tokens, prev_time, prev_pitch = [], notes[0][0] if notes else 0.0, None
    for start, pitch in notes:
        delta = min(round((start - prev_time) / step_s), max_delta_steps)
        part = pitch if not intervals else (pitch - (prev_pitch or pitch)) + 127
        tokens.append(part * (max_delta_steps + 1) + delta)
        prev_time, prev_pitch = start, pitch
    return tokens


_MIX = np.uint64(0x9E3779B97F4A7C15)
_BASE = np.uint64(0x100000001B3)


def _window_hashes(tokens: np.ndarray, n: int) -> np.ndarray:
    """A uint64 hash of every length-``n`` window (wrapping arithmetic; collisions are verified)."""
    mixed = (tokens.astype(np.uint64) + np.uint64(1)) * _MIX
    mixed ^= mixed >> np.uint64(29)
    count = len(tokens) - n + 1
    hashes = np.zeros(count, np.uint64)
    for i in range(n):
        hashes = hashes * _BASE + mixed[i : i + count]
    return hashes


def _as_tokens(tokens: Sequence[int] | np.ndarray) -> np.ndarray:
    array = np.asarray(tokens, dtype=np.int64).reshape(-1)
    if len(array) and (array.min() < 0 or array.max() > np.iinfo(np.int32).max):
        raise ValueError("tokens must be in 0..2**31-1")
    return array


@dataclass(frozen=True)
class SharedRun:
    """The longest run a sample shares with the corpus (length 0: none of at least ``n``).

    Attributes:
        length: Number of consecutive shared tokens.
        query_start: Where the run starts in the sample's tokens.
        sequence: Index of the corpus sequence it was found in (-1 when length is 0).
        corpus_start: Where the run starts in that sequence.
    """

    length: int
    query_start: int = -1
    sequence: int = -1
    corpus_start: int = -1


@dataclass(frozen=True, eq=False)
class CorpusIndex:
    """An n-gram hash index over a corpus's token sequences (build with :meth:`build`).

    Attributes:
        n: The n-gram length; shared runs shorter than this are not reported.
        tokens: int32, every sequence concatenated, each followed by a -1 separator.
        starts: int64, offset of each sequence in ``tokens``.
        hashes: uint64, sorted hash of every n-gram.
        positions: offset in ``tokens`` of the n-gram with each hash.
    """

    n: int
    tokens: np.ndarray
    starts: np.ndarray
    hashes: np.ndarray
    positions: np.ndarray

    @classmethod
    def build(cls, sequences: Iterable[Sequence[int] | np.ndarray], n: int = 8) -> CorpusIndex:
        """Indexes token sequences (e.g. :func:`note_tokens` of every training piece).

        Args:
            sequences: Token id sequences; ids must be in 0..2**31-1.
            n: N-gram length (the shortest run that counts as shared).

        Returns:
            The index.

        Raises:
            ValueError: If ``n`` < 1 or a token is out of range.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        parts, hashes, positions, starts, offset = [], [], [], [], 0
        for seq in sequences:
            array = _as_tokens(seq)
            starts.append(offset)
            if len(array) >= n:
                hashes.append(_window_hashes(array, n))
                positions.append(np.arange(offset, offset + len(array) - n + 1, dtype=np.int64))
            parts.append(np.append(array, -1).astype(np.int32))
            offset += len(array) + 1
        all_hashes = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
        all_positions = np.concatenate(positions) if positions else np.zeros(0, np.int64)
        order = np.argsort(all_hashes, kind="stable")
        return cls(
            n=n,
            tokens=np.concatenate(parts) if parts else np.full(1, -1, np.int32),
            starts=np.array(starts, np.int64),
            hashes=all_hashes[order],
            positions=all_positions[order].astype(np.int32 if offset < 2**31 else np.int64),
        )

    @classmethod
    def from_note_sequences(cls, sequences: Iterable[NoteSequence], n: int = 8) -> CorpusIndex:
        """:meth:`build` over :func:`note_tokens` (defaults) of each sequence."""
        return cls.build((note_tokens(ns) for ns in sequences), n=n)

    def longest_match(self, tokens: Sequence[int] | np.ndarray) -> SharedRun:
        """The longest run of consecutive tokens shared with one corpus sequence.

        Args:
            tokens: The sample's tokens, made the same way as the corpus's.

        Returns:
            The run; exact when its length is at least ``n``, length 0 otherwise.
        """
        query, corpus, n = _as_tokens(tokens), self.tokens.astype(np.int64), self.n
        if len(query) < n or not len(self.hashes):
            return SharedRun(0)
        query_hashes = _window_hashes(query, n)
        lo = np.searchsorted(self.hashes, query_hashes, side="left")
        hi = np.searchsorted(self.hashes, query_hashes, side="right")
        best = SharedRun(0)
        last = len(corpus) - 1  # always the final separator
        for i in np.flatnonzero(hi > lo):
            need = best.length  # a better run must also match at offset `need`
            if i + need >= len(query):
                break
            cand = self.positions[lo[i] : hi[i]].astype(np.int64)
            if i > 0:  # a run that extends left was already examined from i - 1
                cand = cand[(cand == 0) | (corpus[np.maximum(cand - 1, 0)] != query[i - 1])]
            cand = cand[corpus[np.minimum(cand + need, last)] == query[i + need]]
            for g in cand.tolist():
                length = _extend(query, corpus, int(i), g)
                if length > best.length:
                    best = SharedRun(length, int(i), -1, g)
        if best.length < n:
            return SharedRun(0)
        seq = int(np.searchsorted(self.starts, best.corpus_start, side="right") - 1)
        return SharedRun(
            best.length, best.query_start, seq, best.corpus_start - int(self.starts[seq])
        )

    def longest_shared_run(self, tokens: Sequence[int] | np.ndarray) -> int:
        """Length of :meth:`longest_match` (0 when no run of at least ``n`` tokens is shared)."""
        return self.longest_match(tokens).length


def _extend(query: np.ndarray, corpus: np.ndarray, i: int, g: int, chunk: int = 64) -> int:
    """Number of equal tokens from query[i] and corpus[g] on (separators never match)."""
    k = 0
    while True:
        m = min(chunk, len(query) - i - k, len(corpus) - g - k)
        if m <= 0:
            return k
        equal = query[i + k : i + k + m] == corpus[g + k : g + k + m]
        if not equal.all():
            return k + int(np.argmin(equal))
        k += m


def sample_metrics(ns: NoteSequence, *, corpus: CorpusIndex | None = None) -> dict[str, Metric]:
    """Every per-sample metric, as a JSON-ready dict for the manifest.

    Args:
        ns: The generated sequence.
        corpus: With an index built by :meth:`CorpusIndex.from_note_sequences`, also
            ``longest_shared_run``.

    Returns:
        Metric name to value (``None`` where undefined).
    """
    metrics: dict[str, Metric] = {
        "notes": len(ns.notes),
        "duration_s": float(max([ns.total_time, *(n.end_time for n in ns.notes)])),
        "pitch_range": pitch_range(ns),
        "n_pitches_used": n_pitches_used(ns),
        "polyphony": polyphony(ns),
        "pitch_class_entropy": pitch_class_entropy(ns),
        "scale_consistency": scale_consistency(ns),
        "empty_beat_rate": empty_beat_rate(ns),
    }
    if corpus is not None:
        metrics["longest_shared_run"] = corpus.longest_shared_run(note_tokens(ns))
    return metrics


def parse_midi(data: bytes) -> NoteSequence:
    """The NoteSequence of MIDI bytes, as ``note_seq.midi_io.midi_to_note_sequence`` reads them
    (the project's fast parser, the reference one where it declines).

    Raises:
        Exception: Whatever the reference parser raises on bytes it cannot read.
    """
    from musicgen.corpus.midi_fast import midi_to_note_sequence
    from musicgen.corpus.reference import midi_to_note_sequence as reference_parse

    try:
        return midi_to_note_sequence(data)
    except Exception:  # noqa: BLE001 - the fast parser declines: the reference decides
        return reference_parse(data)


def metrics_of_bytes(data: bytes, *, corpus: CorpusIndex | None = None) -> dict[str, Metric]:
    """:func:`sample_metrics` of the piece that MIDI bytes hold: a function of the bytes alone
    (and of ``corpus``), whoever computes it.

    Args:
        data: A Standard MIDI File.
        corpus: As for :func:`sample_metrics`.

    Returns:
        Metric name to value (``None`` where undefined).

    Raises:
        Exception: If the bytes are not a readable MIDI file.
    """
    return sample_metrics(parse_midi(data), corpus=corpus)


def batch_summary(metric_rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean, median, min, max and count of every numeric metric over a batch.

    ``None``, NaN, booleans and non-numbers are left out, so an undefined metric on one sample
    does not poison the batch.

    Args:
        metric_rows: One metrics dict per sample.

    Returns:
        Metric name to ``{"mean", "median", "min", "max", "count"}``, names sorted.
    """
    values: dict[str, list[float]] = {}
    for row in metric_rows:
        for name, value in row.items():
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if ok and math.isfinite(value):
                values.setdefault(name, []).append(float(value))
    return {
        name: {
            "mean": float(np.mean(vals)),
            "median": float(np.median(vals)),
            "min": min(vals),
            "max": max(vals),
            "count": len(vals),
        }
        for name, vals in sorted(values.items())
    }
