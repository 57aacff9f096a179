"""The compact on-disk example format: event ids (or sounding columns), not one-hot floats.

Each record is a ``tf.train.SequenceExample``, written here as deterministic protobuf wire bytes
with plain Python (map keys sorted, packed lists; byte-equal to
``SerializeToString(deterministic=True)``) and read back by a small wire parser, so this module
never imports TensorFlow. ``tf.io.parse_sequence_example`` reads the same records.

Performance records (PerformanceRNN configs)
    context: ``id`` (bytes), ``split`` (bytes), ``encoding`` (bytes, the config name),
    ``stretch`` (float), ``transpose`` (int64), ``chunk`` (int64), and for optional
    conditioning ``conditioned`` (int64, 1 or 0: Magenta writes each performance twice,
    conditioned then not).
    feature list ``tokens``: one int64_list per event, the event id, or for the note encoding the
    6 class indices of :func:`musicgen.encodings.performance.note_labels`.

    :func:`decode_performance` rebuilds exactly the ``(inputs, labels)`` pair of Magenta's record
    for the same example (controls computed from the ids, as :func:`augment.encode_events`).

Piano-roll records
    context: ``id``, ``split``, ``encoding`` (``pianoroll``), ``steps_per_quarter``,
    ``min_pitch``, ``num_pitches``, ``num_frames`` (int64), and for a transposed copy
    ``transpose`` (int64, semitones; absent means 0).
    feature lists ``pitches`` (per frame, the sounding columns, possibly none) and ``onsets``
    (per frame, the columns that start there).
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from musicgen.encodings import performance as perf
from musicgen.encodings.augment import Example
from musicgen.encodings.performance_configs import NOTE_NUM_CLASSES, PerformanceConfig
from musicgen.encodings.performance_controls import control_inputs, disabled_control_inputs
from musicgen.encodings.pianoroll import PianoRoll
from musicgen.errors import InputError

PIANOROLL_ENCODING = "pianoroll"
TOKENS = "tokens"
PITCHES = "pitches"
ONSETS = "onsets"
DEFAULT_MIN_PITCH = 21
_FLOAT = struct.Struct("<f")
_U64 = 1 << 64

# Feature's oneof fields, and the one field of each list message.
_BYTES_LIST, _FLOAT_LIST, _INT64_LIST = 1, 2, 3
_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5


# ---------------------------------------------------------------------------------------------
# writing


def _varint(value: int) -> bytes:
    value = value + _U64 if value < 0 else value
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | _LEN) + _varint(len(payload)) + payload


@lru_cache(maxsize=1 << 16)
def _int64_feature(values: tuple[int, ...]) -> bytes:
    """``Feature(int64_list=Int64List(value=values))``, packed; an empty list stays set."""
    packed = b"".join(_varint(v) for v in values)
    return _len_field(_INT64_LIST, _len_field(1, packed) if packed else b"")


def _bytes_feature(value: bytes) -> bytes:
    return _len_field(_BYTES_LIST, _len_field(1, value))


def _float_feature(value: float) -> bytes:
    return _len_field(_FLOAT_LIST, _len_field(1, _FLOAT.pack(value)))


def _features_map(entries: dict[str, bytes]) -> bytes:
    """A ``map<string, V>`` field 1, entries sorted by key (deterministic serialization)."""
    out = b""
    for key in sorted(entries, key=lambda k: k.encode("utf-8")):
        out += _len_field(1, _len_field(1, key.encode("utf-8")) + _len_field(2, entries[key]))
    return out


def _sequence_example(context: dict[str, bytes], feature_lists: dict[str, bytes]) -> bytes:
    """SequenceExample bytes: context = 1 (Features), feature_lists = 2 (FeatureLists)."""
    return _len_field(1, _features_map(context)) + _len_field(2, _features_map(feature_lists))


def _int64_feature_list(rows: list[tuple[int, ...]]) -> bytes:
    """``FeatureList`` payload: repeated Feature (field 1), one int64_list per row."""
    return b"".join([_feature_entry(row) for row in rows])


@lru_cache(maxsize=1 << 16)
def _feature_entry(row: tuple[int, ...]) -> bytes:
    return _len_field(1, _int64_feature(row))


# Entries of one-value rows (event ids < 512), precomputed: the writer's hot loop is a lookup.
_SINGLE_ENTRIES = [_len_field(1, _int64_feature((v,))) for v in range(512)]


def _id_feature_list(ids: list[int]) -> bytes:
    """:func:`_int64_feature_list` of one-value rows, by table lookup."""
    table = _SINGLE_ENTRIES
    if ids and min(ids) >= 0 and max(ids) < len(table):
        return b"".join([table[v] for v in ids])
    return _int64_feature_list([(v,) for v in ids])


def performance_tokens(events: np.ndarray, config: PerformanceConfig) -> perf.IntArray:
    """The ``tokens`` of a performance: ids ``(n,)``, or the note encoding's ``(n, 6)`` classes.

    Raises:
        ValueError: The events do not fit the config (shape or range).
    """
    events = np.asarray(events)
    if config.note_performance:
        if events.ndim != 2 or events.shape[1] != 4:
            raise ValueError(f"note-encoding events must be (n, 4), got {events.shape}")
        tokens = perf.note_labels(events.astype(np.int64))
        bad = (tokens < 0) | (tokens >= np.asarray(NOTE_NUM_CLASSES))
        if bad.any():
            raise ValueError("note event outside the note encoding's classes")
        return tokens
    if events.ndim != 1:
        raise ValueError(f"events must be 1-d ids for {config.name}, got {events.shape}")
    ids = events.astype(np.int64)
    if len(ids) and (ids.min() < 0 or ids.max() >= config.num_event_classes):
        raise ValueError(f"event id outside 0..{config.num_event_classes - 1}")
    return ids


def serialize_performance(
    events: np.ndarray,
    config: PerformanceConfig,
    *,
    id: str,
    split: str,
    stretch: float = 1.0,
    transpose: int = 0,
    chunk: int = 0,
    conditioned: bool | None = None,
) -> bytes:
    """The compact record of one performance (deterministic bytes, no TensorFlow).

    Args:
        events: Event ids ``(n,)``, or note tuples ``(n, 4)`` for the note encoding.
        config: The PerformanceRNN config.
        id: Source id (e.g. the NoteSequence id or file name).
        split: The split name, e.g. ``train``.
        stretch: The augmentation's stretch factor.
        transpose: The augmentation's transposition (semitones).
        chunk: Index of the 30 s chunk.
        conditioned: For optional conditioning (required there, refused elsewhere): whether
            the controls are enabled in this copy.

    Raises:
        ValueError: Fewer than 2 events, events that do not fit the config, or
            ``conditioned`` given (or missing) against the config.
    """
    if config.optional_conditioning != (conditioned is not None):
        need = "needs" if config.optional_conditioning else "takes no"
        raise ValueError(f"{config.name} {need} `conditioned`")
    tokens = performance_tokens(events, config)
    if len(tokens) < 2:
        raise ValueError(f"a performance needs at least 2 events, got {len(tokens)}")
    context = {
        "id": _bytes_feature(id.encode("utf-8")),
        "split": _bytes_feature(split.encode("utf-8")),
        "encoding": _bytes_feature(config.name.encode("utf-8")),
        "stretch": _float_feature(stretch),
        "transpose": _int64_feature((int(transpose),)),
        "chunk": _int64_feature((int(chunk),)),
    }
    if conditioned is not None:
        context["conditioned"] = _int64_feature((int(bool(conditioned)),))
    if tokens.ndim == 1:
        feature_list = _id_feature_list(tokens.tolist())
    else:
        feature_list = _int64_feature_list([tuple(r) for r in tokens.tolist()])
    return _sequence_example(context, {TOKENS: feature_list})


def serialize_example(example: Example, config: PerformanceConfig, *, id: str, split: str) -> bytes:
    """:func:`serialize_performance` of one pipeline :class:`Example`, its origin kept."""
    return serialize_performance(
        example.events,
        config,
        id=id,
        split=split,
        stretch=example.stretch_factor,
        transpose=example.transpose,
        chunk=example.chunk_index,
        conditioned=example.conditioned,
    )


def _roll_arrays(
    roll: PianoRoll | tuple[np.ndarray, np.ndarray],
    steps_per_quarter: int | None,
    min_pitch: int | None,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    if isinstance(roll, PianoRoll):
        frames, onsets = roll.frames, roll.onsets
        spq = roll.steps_per_quarter if steps_per_quarter is None else steps_per_quarter
        low = roll.min_pitch if min_pitch is None else min_pitch
    else:
        frames, onsets = roll
        if steps_per_quarter is None:
            raise ValueError("a bare (frames, onsets) roll needs steps_per_quarter")
        spq, low = steps_per_quarter, DEFAULT_MIN_PITCH if min_pitch is None else min_pitch
    frames, onsets = np.asarray(frames, bool), np.asarray(onsets, bool)
    if frames.ndim != 2 or frames.shape != onsets.shape:
        raise ValueError(f"frames {frames.shape} and onsets {onsets.shape} must be equal [T, P]")
    return frames, onsets, int(spq), int(low)


def _column_rows(matrix: np.ndarray) -> list[tuple[int, ...]]:
    times, cols = np.nonzero(matrix)
    bounds = np.searchsorted(times, np.arange(matrix.shape[0] + 1)).tolist()
    values = cols.tolist()
    return [tuple(values[a:b]) for a, b in itertools.pairwise(bounds)]


def serialize_pianoroll(
    roll: PianoRoll | tuple[np.ndarray, np.ndarray],
    *,
    id: str,
    split: str,
    steps_per_quarter: int | None = None,
    min_pitch: int | None = None,
    transpose: int = 0,
) -> bytes:
    """The compact record of one piano roll (deterministic bytes, no TensorFlow).

    Args:
        roll: A :class:`PianoRoll`, or bool ``(frames, onsets)`` arrays ``[T, P]``.
        id: Source id.
        split: The split name.
        steps_per_quarter: The grid (taken from a PianoRoll; required for bare arrays).
        min_pitch: MIDI pitch of column 0 (a PianoRoll's own; 21 for bare arrays).
        transpose: Semitones of an augmented copy (the roll given is already shifted).

    Raises:
        ValueError: Mismatched shapes, or bare arrays without ``steps_per_quarter``.
    """
    frames, onsets, spq, low = _roll_arrays(roll, steps_per_quarter, min_pitch)
    context = {
        "id": _bytes_feature(id.encode("utf-8")),
        "split": _bytes_feature(split.encode("utf-8")),
        "encoding": _bytes_feature(PIANOROLL_ENCODING.encode("utf-8")),
        "steps_per_quarter": _int64_feature((spq,)),
        "min_pitch": _int64_feature((low,)),
        "num_pitches": _int64_feature((int(frames.shape[1]),)),
        "num_frames": _int64_feature((int(frames.shape[0]),)),
    }
    if transpose:  # only on copies, so untransposed records keep their bytes
        context["transpose"] = _int64_feature((int(transpose),))
    lists = {
        PITCHES: _int64_feature_list(_column_rows(frames)),
        ONSETS: _int64_feature_list(_column_rows(onsets)),
    }
    return _sequence_example(context, lists)


# ---------------------------------------------------------------------------------------------
# reading: a small protobuf wire parser (only what SequenceExample needs)

_Value = int | tuple[int, int]  # a varint, or the [start, end) slice of a payload


class _Malformed(Exception):
    pass


def _read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Malformed("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, _Value]]:
    """(field number, wire type, value) of each field in ``buf[start:end]``."""
    pos = start
    while pos < end:
        key, pos = _read_varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        value: _Value
        if wire == _VARINT:
            value, pos = _read_varint(buf, pos, end)
        elif wire == _LEN:
            size, pos = _read_varint(buf, pos, end)
            value = (pos, pos + size)
            pos += size
        elif wire == _FIXED32:
            value = (pos, pos + 4)
            pos += 4
        elif wire == _FIXED64:
            value = (pos, pos + 8)
            pos += 8
        else:
            raise _Malformed(f"unsupported wire type {wire}")
        if pos > end:
            raise _Malformed("truncated field")
        yield number, wire, value


def _span(value: _Value) -> tuple[int, int]:
    if isinstance(value, int):
        raise _Malformed("expected a length-delimited field")
    return value


def _slice(buf: bytes, value: _Value) -> bytes:
    start, end = _span(value)
    return buf[start:end]


FeatureValue = list[bytes] | list[float] | list[int]


def _feature(buf: bytes, start: int, end: int) -> FeatureValue:
    """The values of one ``Feature`` (an unset Feature reads as an empty int list)."""
    out: FeatureValue = []
    for number, _, value in _fields(buf, start, end):
        a, b = _span(value)
        if number == _BYTES_LIST:
            out = [_slice(buf, v) for n, _, v in _fields(buf, a, b) if n == 1]
        elif number == _FLOAT_LIST:
            floats: list[float] = []
            for n, _, v in _fields(buf, a, b):
                if n == 1:
                    s, e = _span(v)
                    if (e - s) % 4:
                        raise _Malformed("float list length not a multiple of 4")
                    floats.extend(np.frombuffer(buf[s:e], "<f4").tolist())
            out = floats
        elif number == _INT64_LIST:
            out = _int64_values(buf, a, b)
    return out


def _int64_values(buf: bytes, start: int, end: int) -> list[int]:
    ints: list[int] = []
    for number, _, value in _fields(buf, start, end):
        if number != 1:
            continue
        if isinstance(value, int):
            ints.append(value)
        else:
            pos, stop = _span(value)
            while pos < stop:
                v, pos = _read_varint(buf, pos, stop)
                ints.append(v)
    return [v - _U64 if v >= 1 << 63 else v for v in ints]


def _map(buf: bytes, start: int, end: int) -> dict[str, tuple[int, int]]:
    """A ``map<string, message>`` (field 1 entries) as key -> value slice."""
    out: dict[str, tuple[int, int]] = {}
    for number, _, value in _fields(buf, start, end):
        if number != 1:
            continue
        key, payload = "", (0, 0)
        a, b = _span(value)
        for n, _, v in _fields(buf, a, b):
            if n == 1:
                s, e = _span(v)
                key = buf[s:e].decode("utf-8")
            elif n == 2:
                payload = _span(v)
        out[key] = payload
    return out


@dataclass(frozen=True)
class ParsedSequenceExample:
    """A SequenceExample read by the wire parser.

    Attributes:
        context: Feature name -> its values.
        feature_lists: Feature list name -> one value list per step.
    """

    context: dict[str, FeatureValue]
    feature_lists: dict[str, list[FeatureValue]]


def parse_sequence_example(record: bytes, *, uri: str = "<record>") -> ParsedSequenceExample:
    """Parses any SequenceExample without TensorFlow (floats as Python floats of float32).

    Raises:
        InputError: ``malformed`` wire bytes, naming ``uri``.
    """
    try:
        context: dict[str, FeatureValue] = {}
        lists: dict[str, list[FeatureValue]] = {}
        for number, _, value in _fields(record, 0, len(record)):
            a, b = _span(value)
            if number == 1:
                for key, (s, e) in _map(record, a, b).items():
                    context[key] = _feature(record, s, e)
            elif number == 2:
                for key, (s, e) in _map(record, a, b).items():
                    lists[key] = [
                        _feature(record, *_span(v)) for n, _, v in _fields(record, s, e) if n == 1
                    ]
        return ParsedSequenceExample(context, lists)
    except (_Malformed, UnicodeDecodeError) as exc:
        raise InputError(uri, "malformed", f"not a SequenceExample: {exc}") from exc


def _one(parsed: ParsedSequenceExample, key: str, uri: str) -> bytes | float | int:
    values = parsed.context.get(key)
    if values is None or len(values) != 1:
        raise InputError(uri, "malformed", f"context feature {key!r} missing or not one value")
    return values[0]


def _text(parsed: ParsedSequenceExample, key: str, uri: str) -> str:
    value = _one(parsed, key, uri)
    if not isinstance(value, bytes):
        raise InputError(uri, "malformed", f"context feature {key!r} is not bytes")
    return value.decode("utf-8")


def _int(parsed: ParsedSequenceExample, key: str, uri: str) -> int:
    value = _one(parsed, key, uri)
    if not isinstance(value, int):
        raise InputError(uri, "malformed", f"context feature {key!r} is not an int64")
    return value


@dataclass(frozen=True, eq=False)
class PerformanceRecord:
    """One compact performance record, parsed.

    Attributes:
        id: Source id.
        split: Split name.
        encoding: The config name.
        stretch: Stretch factor (as float32 stores it).
        transpose: Semitones.
        chunk: Chunk index.
        conditioned: For optional conditioning, whether controls are enabled; else None.
        tokens: int64 ids ``(n,)``, or ``(n, 6)`` note-encoding classes.
    """

    id: str
    split: str
    encoding: str
    stretch: float
    transpose: int
    chunk: int
    conditioned: bool | None
    tokens: perf.IntArray


def parse_performance(record: bytes, *, uri: str = "<record>") -> PerformanceRecord:
    """Reads a compact performance record.

    Raises:
        InputError: Malformed bytes or a missing field (``malformed``), naming ``uri``.
    """
    parsed = parse_sequence_example(record, uri=uri)
    stretch = _one(parsed, "stretch", uri)
    if not isinstance(stretch, float):
        raise InputError(uri, "malformed", "context feature 'stretch' is not a float")
    steps = parsed.feature_lists.get(TOKENS)
    if not steps:
        raise InputError(uri, "malformed", f"no {TOKENS!r} feature list")
    widths = {len(step) for step in steps}
    if len(widths) != 1 or widths == {0} or any(not isinstance(s[0], int) for s in steps):
        raise InputError(uri, "malformed", f"{TOKENS!r} must hold int64 lists of one width")
    width = widths.pop()
    tokens = np.array(steps, dtype=np.int64).reshape(len(steps), width)
    return PerformanceRecord(
        id=_text(parsed, "id", uri),
        split=_text(parsed, "split", uri),
        encoding=_text(parsed, "encoding", uri),
        stretch=stretch,
        transpose=_int(parsed, "transpose", uri),
        chunk=_int(parsed, "chunk", uri),
        conditioned=bool(_int(parsed, "conditioned", uri))
        if "conditioned" in parsed.context
        else None,
        tokens=tokens[:, 0] if width == 1 else tokens,
    )


def performance_pair(
    tokens: np.ndarray, config: PerformanceConfig, conditioned: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Magenta's ``(inputs, labels)`` of one performance from its compact tokens.

    Row i of the inputs is [control at i + 1 | event i], label i is event i + 1, exactly as
    :func:`musicgen.encodings.augment.encode_events`; ``conditioned=False`` gives the
    disabled-control rows of optional conditioning.

    Returns:
        float32 inputs ``(n - 1, input_size)`` (as Magenta's records store them) and int64
        labels ``(n - 1,)``, or ``(n - 1, 6)`` for the note encoding.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    events = perf.note_labels_to_tuples(tokens) if config.note_performance else tokens
    event_part = perf.event_inputs(events[:-1], config)
    labels = perf.event_labels(events[1:], config)
    if config.controls:
        if conditioned is False:
            controls = disabled_control_inputs(len(event_part), config)
        else:
            controls = control_inputs(events, config)[1:]
        event_part = np.concatenate([controls, event_part], axis=1)
    return event_part.astype(np.float32), labels


def decode_performance(
    record: bytes, config: PerformanceConfig, *, uri: str = "<record>"
) -> tuple[np.ndarray, np.ndarray]:
    """The ``(inputs, labels)`` that Magenta's record of the same example holds.

    Args:
        record: A compact performance record.
        config: The config it was written with.
        uri: Named in errors.

    Returns:
        See :func:`performance_pair`.

    Raises:
        InputError: Malformed (``malformed``), or written for another config
            (``encoding-mismatch``).
    """
    rec = parse_performance(record, uri=uri)
    if rec.encoding != config.name:
        raise InputError(
            uri, "encoding-mismatch", f"record is {rec.encoding!r}, not {config.name!r}"
        )
    if config.optional_conditioning and rec.conditioned is None:
        raise InputError(uri, "malformed", f"{config.name} records need 'conditioned'")
    expected = 6 if config.note_performance else 1
    width = 1 if rec.tokens.ndim == 1 else rec.tokens.shape[1]
    if width != expected:
        raise InputError(uri, "malformed", f"tokens have {width} values per event, not {expected}")
    return performance_pair(rec.tokens, config, rec.conditioned)


@dataclass(frozen=True, eq=False)
class PianorollRecord:
    """One compact piano-roll record, parsed.

    Attributes:
        id: Source id.
        split: Split name.
        steps_per_quarter: The grid.
        min_pitch: MIDI pitch of column 0.
        frames: bool ``[T, num_pitches]``.
        onsets: bool ``[T, num_pitches]``.
        transpose: Semitones of an augmented copy, 0 for an original.
    """

    id: str
    split: str
    steps_per_quarter: int
    min_pitch: int
    frames: np.ndarray
    onsets: np.ndarray
    transpose: int = 0


def _columns(
    steps: list[FeatureValue] | None, num_frames: int, width: int, key: str, uri: str
) -> np.ndarray:
    steps = [] if steps is None else steps
    if len(steps) != num_frames:
        raise InputError(uri, "malformed", f"{key!r} has {len(steps)} frames, not {num_frames}")
    out = np.zeros((num_frames, width), bool)
    rows = [t for t, step in enumerate(steps) for _ in step]
    cols = [c for step in steps for c in step]
    if not all(isinstance(c, int) and 0 <= c < width for c in cols):
        raise InputError(uri, "malformed", f"{key!r} holds columns outside 0..{width - 1}")
    out[np.asarray(rows, np.int64), np.asarray(cols, np.int64)] = True
    return out


def parse_pianoroll(record: bytes, *, uri: str = "<record>") -> PianorollRecord:
    """Reads a compact piano-roll record.

    Raises:
        InputError: Malformed (``malformed``), or not a piano roll (``encoding-mismatch``).
    """
    parsed = parse_sequence_example(record, uri=uri)
    encoding = _text(parsed, "encoding", uri)
    if encoding != PIANOROLL_ENCODING:
        raise InputError(uri, "encoding-mismatch", f"record is {encoding!r}, not a piano roll")
    num_frames, width = _int(parsed, "num_frames", uri), _int(parsed, "num_pitches", uri)
    return PianorollRecord(
        id=_text(parsed, "id", uri),
        split=_text(parsed, "split", uri),
        steps_per_quarter=_int(parsed, "steps_per_quarter", uri),
        min_pitch=_int(parsed, "min_pitch", uri),
        frames=_columns(parsed.feature_lists.get(PITCHES), num_frames, width, PITCHES, uri),
        onsets=_columns(parsed.feature_lists.get(ONSETS), num_frames, width, ONSETS, uri),
        transpose=_int(parsed, "transpose", uri) if "transpose" in parsed.context else 0,
    )


def decode_pianoroll(record: bytes, *, uri: str = "<record>") -> tuple[np.ndarray, np.ndarray]:
    """``(frames, onsets)``, bool ``[T, 88]``, of a compact piano-roll record."""
    rec = parse_pianoroll(record, uri=uri)
    return rec.frames, rec.onsets


def pianoroll_of(rec: PianorollRecord) -> PianoRoll:
    """A :class:`PianoRoll` holding a record's frames (frame times are unknown: zeros)."""
    return PianoRoll(
        frames=rec.frames,
        onsets=rec.onsets,
        frame_times=np.zeros(len(rec.frames) + 1),
        steps_per_quarter=rec.steps_per_quarter,
        min_pitch=rec.min_pitch,
    )
