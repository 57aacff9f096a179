"""Beat-aligned piano rolls (frames + onsets) from NoteSequences, and back.

The grid is a fixed number of steps per quarter note, laid over the sequence's tempo map, so a
frame boundary falls on every beat (quarter note) even where the tempo changes; a step that
straddles a tempo change simply spans both tempos.

Tempo and time-signature choices (MIDI files are messy at time zero):

* Tempo events are sorted by time; where several share a time the last one wins (it is the one in
  effect after that instant). The earliest tempo applies from time 0 even if its event comes late
  (as in Magenta's quantizer, which reads ``tempos[0]``); with no tempo at all the grid uses
  note-seq's default of 120 qpm.
* The grid is quarter-note based whatever the meter (as in Magenta's ``steps_per_quarter`` and
  the Boulanger-Lewandowski benchmarks). The time signature in effect at the earliest time
  signature event (the last one there, 4/4 when there is none) is kept on the roll as metadata
  and written back by :func:`decode`; later changes are ignored.

Notes outside ``min_pitch..max_pitch`` are dropped and counted on the roll; drum notes are
excluded by default (counted separately). A note's start and end are rounded to the nearest
step; a note that would round to zero steps keeps one step, as Magenta's quantizer does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from note_seq.protobuf.music_pb2 import NoteSequence

DEFAULT_QPM = 120.0  # note_seq.constants.DEFAULT_QUARTERS_PER_MINUTE
STANDARD_PPQ = 220  # note_seq.constants.STANDARD_PPQ, written by decode


@dataclass(frozen=True)
class PianorollEncodingConfig:
    """How NoteSequences become piano rolls and back.

    Attributes:
        steps_per_quarter: frames per quarter note (B-L use 1 for JSB, 2 for the others).
        velocity: MIDI velocity of every note written by :func:`decode`.
        include_drums: keep ``is_drum`` notes (they are dropped by default).
        min_pitch: MIDI pitch of column 0 (A0 = 21).
        max_pitch: MIDI pitch of the last column (C8 = 108).
    """

    steps_per_quarter: int = 4
    velocity: int = 80
    include_drums: bool = False
    min_pitch: int = 21
    max_pitch: int = 108

    def __post_init__(self) -> None:
        if self.steps_per_quarter < 1:
            raise ValueError(f"steps_per_quarter must be >= 1, got {self.steps_per_quarter}")
        if not 1 <= self.velocity <= 127:
            raise ValueError(f"velocity must be in 1..127, got {self.velocity}")
        if not 0 <= self.min_pitch <= self.max_pitch <= 127:
            raise ValueError(f"bad pitch range {self.min_pitch}..{self.max_pitch}")

    @property
    def num_pitches(self) -> int:
        """Number of roll columns."""
        return self.max_pitch - self.min_pitch + 1


@dataclass(frozen=True, eq=False)
class PianoRoll:
    """A beat-aligned piano roll.

    Attributes:
        frames: bool [T, P], the note sounds during step t (column 0 = ``min_pitch``).
        onsets: bool [T, P], the note (re)starts at step t; always a subset of ``frames``.
        frame_times: float64 [T + 1], seconds of each step boundary (the last is the end).
        steps_per_quarter: grid resolution.
        min_pitch: MIDI pitch of column 0.
        tempo_times: float64 [K], start (seconds) of each tempo segment; the first is 0.
        tempo_qpms: float64 [K], quarter notes per minute of each segment.
        time_signature: (numerator, denominator) in effect at the start.
        dropped_out_of_range: notes dropped because their pitch lies outside the columns.
        dropped_drums: drum notes dropped.
    """

    frames: np.ndarray
    onsets: np.ndarray
    frame_times: np.ndarray
    steps_per_quarter: int
    min_pitch: int = 21
    tempo_times: np.ndarray = field(default_factory=lambda: np.zeros(1))
    tempo_qpms: np.ndarray = field(default_factory=lambda: np.full(1, DEFAULT_QPM))
    time_signature: tuple[int, int] = (4, 4)
    dropped_out_of_range: int = 0
    dropped_drums: int = 0

    @property
    def num_steps(self) -> int:
        """Number of frames T."""
        return int(self.frames.shape[0])


def tempo_map(ns: NoteSequence) -> tuple[np.ndarray, np.ndarray]:
    """The tempo segments of a sequence, normalised as the module docstring describes.

    Args:
        ns: the sequence (not modified).

    Returns:
        (segment start times in seconds, qpm of each segment); the first start is 0 and
        consecutive segments have different tempos.
    """
    events = sorted(((t.time, i, t.qpm) for i, t in enumerate(ns.tempos) if t.qpm > 0))
    if not events:
        return np.zeros(1), np.full(1, DEFAULT_QPM)
    last_at: dict[float, float] = {}
    for time, _, qpm in events:
        last_at[max(time, 0.0)] = qpm  # same instant: the later event is the one in effect
    times = sorted(last_at)
    qpms = [last_at[t] for t in times]
    times[0] = 0.0  # the earliest tempo applies from the start
    keep = [0] + [i for i in range(1, len(qpms)) if qpms[i] != qpms[i - 1]]
    return np.array([times[i] for i in keep], np.float64), np.array(
        [qpms[i] for i in keep], np.float64
    )


def _first_time_signature(ns: NoteSequence) -> tuple[int, int]:
    if not ns.time_signatures:
        return (4, 4)
    first = min(ts.time for ts in ns.time_signatures)
    at_first = [ts for ts in ns.time_signatures if ts.time == first]
    return (int(at_first[-1].numerator), int(at_first[-1].denominator))


def _quarters_at(times: np.ndarray, starts: np.ndarray, qpms: np.ndarray) -> np.ndarray:
    """Quarter-note position of each time, integrating the piecewise-constant tempo."""
    seg_quarters = np.concatenate([[0.0], np.cumsum(np.diff(starts) * qpms[:-1] / 60.0)])
    i = np.searchsorted(starts, times, side="right") - 1
    i = np.clip(i, 0, len(starts) - 1)
    return seg_quarters[i] + (times - starts[i]) * qpms[i] / 60.0


def _times_of(quarters: np.ndarray, starts: np.ndarray, qpms: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_quarters_at`: seconds at each quarter-note position."""
    seg_quarters = np.concatenate([[0.0], np.cumsum(np.diff(starts) * qpms[:-1] / 60.0)])
    i = np.searchsorted(seg_quarters, quarters, side="right") - 1
    i = np.clip(i, 0, len(starts) - 1)
    return starts[i] + (quarters - seg_quarters[i]) * 60.0 / qpms[i]


def encode(ns: NoteSequence, cfg: PianorollEncodingConfig | None = None) -> PianoRoll:
    """Quantize a NoteSequence onto a beat-aligned piano roll.

    Args:
        ns: the sequence (not modified).
        cfg: encoding options; defaults to :class:`PianorollEncodingConfig()`.

    Returns:
        The roll; T covers every kept note and ``ns.total_time`` (rounded to the grid).
    """
    cfg = cfg or PianorollEncodingConfig()
    starts_t, qpms = tempo_map(ns)
    spq = cfg.steps_per_quarter
    n = len(ns.notes)
    pitch = np.fromiter((x.pitch for x in ns.notes), np.int64, n)
    drum = np.fromiter((x.is_drum for x in ns.notes), bool, n)
    t0 = np.fromiter((x.start_time for x in ns.notes), np.float64, n)
    t1 = np.fromiter((x.end_time for x in ns.notes), np.float64, n)

    keep = np.ones(n, bool) if cfg.include_drums else ~drum
    dropped_drums = int(n - keep.sum())
    in_range = (pitch >= cfg.min_pitch) & (pitch <= cfg.max_pitch)
    dropped_range = int((keep & ~in_range).sum())
    keep &= in_range
    pitch, t0, t1 = pitch[keep] - cfg.min_pitch, t0[keep], t1[keep]

    s0 = np.rint(_quarters_at(t0, starts_t, qpms) * spq).astype(np.int64)
    s1 = np.rint(_quarters_at(t1, starts_t, qpms) * spq).astype(np.int64)
    s0 = np.maximum(s0, 0)
    s1 = np.maximum(s1, s0 + 1)  # a very short note keeps one step
    end_q = _quarters_at(np.array([max(ns.total_time, 0.0)]), starts_t, qpms)[0]
    num_steps = max(int(s1.max()) if len(s1) else 0, round(end_q * spq))

    # A difference array marks each note's span in one vectorised pass.
    depth = np.zeros((num_steps + 1, cfg.num_pitches), np.int32)
    np.add.at(depth, (s0, pitch), 1)
    np.add.at(depth, (s1, pitch), -1)
    frames = np.cumsum(depth, axis=0)[:num_steps] > 0
    onsets = np.zeros((num_steps, cfg.num_pitches), bool)
    onsets[s0, pitch] = True
    frame_times = _times_of(np.arange(num_steps + 1) / spq, starts_t, qpms)
    return PianoRoll(
        frames=frames,
        onsets=onsets,
        frame_times=frame_times,
        steps_per_quarter=spq,
        min_pitch=cfg.min_pitch,
        tempo_times=starts_t,
        tempo_qpms=qpms,
        time_signature=_first_time_signature(ns),
        dropped_out_of_range=dropped_range,
        dropped_drums=dropped_drums,
    )


def note_spans(roll: PianoRoll) -> list[tuple[int, int, int]]:
    """The notes a roll holds, as (start step, end step, MIDI pitch), sorted.

    Consecutive active frames make one note; an onset inside a held run starts a new note.
    Onsets on inactive frames are ignored.

    Args:
        roll: the piano roll.

    Returns:
        Sorted (start, end, pitch) triples with end exclusive.
    """
    frames = np.asarray(roll.frames, bool)
    onsets = np.asarray(roll.onsets, bool) & frames
    num_steps = frames.shape[0]
    prev = np.zeros_like(frames)
    prev[1:] = frames[:-1]
    start = frames & (~prev | onsets)
    # A note ends at the next step that either starts another note or is silent.
    boundary = np.ones((num_steps + 1, frames.shape[1]), bool)
    boundary[:num_steps] = start | ~frames
    spans: list[tuple[int, int, int]] = []
    for col in np.flatnonzero(start.any(axis=0)):
        begins = np.flatnonzero(start[:, col])
        bounds = np.flatnonzero(boundary[:, col])
        ends = bounds[np.searchsorted(bounds, begins, side="right")]
        pitch = int(col) + roll.min_pitch
        spans.extend((int(b), int(e), pitch) for b, e in zip(begins, ends, strict=True))
    spans.sort()
    return spans


def decode(roll: PianoRoll, cfg: PianorollEncodingConfig | None = None) -> NoteSequence:
    """Turn a piano roll back into a NoteSequence on the roll's own time grid.

    Args:
        roll: the piano roll (not modified).
        cfg: only ``velocity`` is used; defaults to :class:`PianorollEncodingConfig()`.

    Returns:
        A sequence with one instrument-0 note per span of :func:`note_spans`, the roll's tempo
        map and time signature, and ``total_time`` at the roll's last frame boundary.
    """
    cfg = cfg or PianorollEncodingConfig()
    ns = NoteSequence()
    ns.ticks_per_quarter = STANDARD_PPQ
    for time, qpm in zip(roll.tempo_times, roll.tempo_qpms, strict=True):
        ns.tempos.add(time=float(time), qpm=float(qpm))
    ts = ns.time_signatures.add(time=0.0)
    ts.numerator, ts.denominator = roll.time_signature
    times = roll.frame_times
    for begin, end, pitch in note_spans(roll):
        ns.notes.add(
            pitch=pitch,
            velocity=cfg.velocity,
            start_time=float(times[begin]),
            end_time=float(times[end]),
        )
    ns.total_time = float(times[-1]) if len(times) else 0.0
    return ns
