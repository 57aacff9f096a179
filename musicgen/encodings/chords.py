"""A chord vocabulary: one category per set of simultaneous notes in a piano roll frame."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from musicgen.encodings.pianoroll import PianoRoll

OOV_ID = 0
SILENCE_ID = 1
NUM_RESERVED = 2
_FORMAT = "musicgen.chord_vocabulary"
_VERSION = 1

Chord = tuple[int, ...]


def _frames(roll: PianoRoll | np.ndarray) -> np.ndarray:
    return np.asarray(roll.frames if isinstance(roll, PianoRoll) else roll, bool)


def _row_keys(frames: np.ndarray) -> list[bytes]:
    # Packed bits make a short hashable key per frame without a Python loop over pitches.
    packed = np.packbits(frames, axis=1)
    return [row.tobytes() for row in packed]


def count_chords(roll: PianoRoll | np.ndarray, min_pitch: int = 21) -> Counter[Chord]:
    """How often each chord (sorted MIDI pitches) sounds in a roll's non-silent frames.

    Counts from many rolls (e.g. one per worker) add up, and :meth:`ChordVocabulary.from_counts`
    turns their sum into the vocabulary, so it can be built without holding every roll.
    """
    frames = _frames(roll)
    if isinstance(roll, PianoRoll):
        min_pitch = roll.min_pitch
    keys = Counter(_row_keys(frames[frames.any(axis=1)]))
    width = frames.shape[1]
    out: Counter[Chord] = Counter()
    for key, count in keys.items():
        bits = np.unpackbits(np.frombuffer(key, np.uint8), count=width).astype(bool)
        out[tuple(int(c) + min_pitch for c in np.flatnonzero(bits))] = count
    return out


@dataclass(frozen=True)
class ChordVocabulary:
    """Chords (sorted MIDI pitch tuples) and their ids.

    Id 0 is the out-of-vocabulary class, id 1 silence, and chord ``chords[i]`` has id ``i + 2``.
    Chords are ordered by training frequency (most frequent first), ties by pitch tuple.

    Attributes:
        chords: the non-empty chords, in id order.
        counts: how often each chord occurred in the training rolls.
        min_pitch: MIDI pitch of roll column 0.
        num_pitches: roll width.
    """

    chords: tuple[Chord, ...]
    counts: tuple[int, ...]
    min_pitch: int = 21
    num_pitches: int = 88
    _ids: dict[bytes, int] = field(init=False, repr=False, compare=False)
    _table: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table = np.zeros((NUM_RESERVED + len(self.chords), self.num_pitches), bool)
        for i, chord in enumerate(self.chords):
            cols = np.asarray(chord, np.int64) - self.min_pitch
            if len(cols) == 0 or cols.min() < 0 or cols.max() >= self.num_pitches:
                raise ValueError(f"chord {chord} is empty or outside the roll's pitch range")
            table[NUM_RESERVED + i, cols] = True
        keys = _row_keys(table)
        ids = {key: i for i, key in enumerate(keys) if i >= NUM_RESERVED}
        if len(ids) != len(self.chords):
            raise ValueError("duplicate chords in vocabulary")
        ids[keys[SILENCE_ID]] = SILENCE_ID
        object.__setattr__(self, "_ids", ids)
        object.__setattr__(self, "_table", table)

    @property
    def size(self) -> int:
        """Number of ids, the two reserved ones included."""
        return NUM_RESERVED + len(self.chords)

    @classmethod
    def build(
        cls,
        rolls: Iterable[PianoRoll | np.ndarray],
        *,
        min_count: int = 1,
        max_size: int | None = None,
        min_pitch: int = 21,
    ) -> ChordVocabulary:
        """Count the chords of training rolls and keep the frequent ones.

        Args:
            rolls: training rolls (:class:`PianoRoll` or bool [T, P] frames, column 0 = min_pitch).
            min_count: keep chords seen at least this many times.
            max_size: cap on :attr:`size` (the two reserved ids included); the most frequent
                chords are kept. ``None`` means no cap.
            min_pitch: MIDI pitch of column 0 for bare arrays (a :class:`PianoRoll` says its own).

        Returns:
            The vocabulary.
        """
        counts: Counter[Chord] = Counter()
        width: int | None = None
        for roll in rolls:
            frames = _frames(roll)
            if isinstance(roll, PianoRoll):
                min_pitch = roll.min_pitch
            if width is not None and frames.shape[1] != width:
                raise ValueError(f"rolls of different widths: {width} and {frames.shape[1]}")
            width = frames.shape[1]
            counts.update(count_chords(frames, min_pitch))
        return cls.from_counts(
            counts,
            min_count=min_count,
            max_size=max_size,
            min_pitch=min_pitch,
            num_pitches=88 if width is None else width,
        )

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[Chord, int],
        *,
        min_count: int = 1,
        max_size: int | None = None,
        min_pitch: int = 21,
        num_pitches: int = 88,
    ) -> ChordVocabulary:
        """The vocabulary of summed :func:`count_chords` counts (same rules as :meth:`build`)."""
        if max_size is not None and max_size < NUM_RESERVED:
            raise ValueError(f"max_size must be >= {NUM_RESERVED}, got {max_size}")
        chords = sorted(
            ((count, tuple(chord)) for chord, count in counts.items() if count >= min_count),
            key=lambda cc: (-cc[0], cc[1]),
        )
        if max_size is not None:
            chords = chords[: max_size - NUM_RESERVED]
        return cls(
            chords=tuple(c for _, c in chords),
            counts=tuple(n for n, _ in chords),
            min_pitch=min_pitch,
            num_pitches=num_pitches,
        )

    def encode(self, roll: PianoRoll | np.ndarray) -> np.ndarray:
        """Chord id of every frame.

        Args:
            roll: a :class:`PianoRoll` or bool [T, P] frames.

        Returns:
            int64 [T]; 1 for silent frames, 0 for chords outside the vocabulary.
        """
        frames = _frames(roll)
        if frames.shape[1] != self.num_pitches:
            raise ValueError(f"roll width {frames.shape[1]} != vocabulary {self.num_pitches}")
        ids = self._ids
        return np.array([ids.get(k, OOV_ID) for k in _row_keys(frames)], np.int64)

    def decode(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames of chord ids; the OOV id decodes to a silent frame.

        Args:
            ids: int [T] chord ids.

        Returns:
            bool [T, P].
        """
        return self._table[np.asarray(ids, np.int64)].copy()

    def to_json(self) -> str:
        """Serialise for saving beside a dataset."""
        return json.dumps(
            {
                "format": _FORMAT,
                "version": _VERSION,
                "min_pitch": self.min_pitch,
                "num_pitches": self.num_pitches,
                "reserved": {"oov": OOV_ID, "silence": SILENCE_ID},
                "chords": [list(c) for c in self.chords],
                "counts": list(self.counts),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ChordVocabulary:
        """Load what :meth:`to_json` wrote.

        Args:
            text: the JSON text.

        Returns:
            The vocabulary.
        """
        data = json.loads(text)
        if data.get("format") != _FORMAT or data.get("version") != _VERSION:
            raise ValueError(f"not a {_FORMAT} v{_VERSION} document")
        return cls(
            chords=tuple(tuple(int(p) for p in c) for c in data["chords"]),
            counts=tuple(int(n) for n in data["counts"]),
            min_pitch=int(data["min_pitch"]),
            num_pitches=int(data["num_pitches"]),
        )
