"""Fast MIDI bytes -> NoteSequence, equal to what note_seq.midi_io.midi_to_note_sequence returns."""

from __future__ import annotations

import threading

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from musicgen.corpus import midi_events as me
from musicgen.corpus.reference import import_note_seq

import_note_seq()  # quietly: note_seq's package import warns about ffmpeg (audio only, unused)
from note_seq.protobuf.music_pb2 import NoteSequence  # noqa: E402

# note_seq raises pretty_midi's MAX_TICK to 1e10, and pretty_midi then allocates 8 bytes per tick
# (24 transiently). Past pretty_midi's own 1e7 we decline, and note_seq decides.
MAX_TICK = 10_000_000

# Errors of pretty_midi and note_seq semantics, found after mido would have read the file.
ERR_ZERO_RESOLUTION = 20  # ZeroDivisionError building the default tempo
ERR_ZERO_TEMPO = 21  # ZeroDivisionError: set_tempo of 0 on track 0
ERR_TS_NUMERATOR = 22  # pretty_midi TimeSignature: numerator must be > 0
ERR_NEGATIVE_TIME = 23  # pretty_midi Time/KeySignature: time must be >= 0 (negative division)
ERR_NOTE_END = 24  # pretty_midi Note: end before start (negative division)
ERR_TS_DENOMINATOR = 25  # note_seq: the denominator does not fit an int32

_REASONS: dict[int, tuple[str, str]] = {
    me.ERR_EMPTY_FILE: ("empty_file", "the file is empty"),
    me.ERR_TRUNCATED: ("truncated", "unexpected end of file reading from offset {pos}"),
    me.ERR_BAD_HEADER: ("bad_header", "MThd not found, probably not a MIDI file"),
    me.ERR_NO_MTRK: ("bad_chunk_header", "no MTrk header at offset {pos} (track {val})"),
    me.ERR_RUNNING_STATUS: ("running_status_without_status", "data byte {val} at offset {pos}"),
    me.ERR_UNDEFINED_STATUS: ("undefined_status_byte", "status byte 0x{val:02x} at offset {pos}"),
    me.ERR_DATA_BYTE: ("data_byte_out_of_range", "data byte {val} > 127 at offset {pos}"),
    me.ERR_TOO_LONG: ("message_too_long", "{val} bytes long at offset {pos}"),
    me.ERR_SHORT_META: ("invalid_meta_message", "meta type 0x{val:02x} too short at {pos}"),
    me.ERR_SMPTE: ("invalid_meta_message", "smpte_offset field out of range at offset {pos}"),
    me.ERR_TIME_SIGNATURE: ("invalid_time_signature", "mido rejects the denominator at {pos}"),
    me.ERR_KEY_SIGNATURE: ("invalid_key_signature", "undecodable key at offset {pos}"),
    me.ERR_SYSTEM_MESSAGE: ("invalid_system_message", "data byte after 0x{val:02x} at {pos}"),
    ERR_ZERO_RESOLUTION: ("zero_resolution", "0 ticks per quarter note"),
    ERR_ZERO_TEMPO: ("zero_tempo", "set_tempo of 0 microseconds at tick {val}"),
    ERR_TS_NUMERATOR: ("invalid_time_signature", "numerator 0 at tick {val}"),
    ERR_NEGATIVE_TIME: ("negative_event_time", "signature at tick {val} before 0 s (SMPTE)"),
    ERR_NOTE_END: ("note_end_before_start", "note ending at tick {val} (SMPTE division)"),
    ERR_TS_DENOMINATOR: ("invalid_time_signature", "denominator 2**{val} exceeds int32"),
}

_PRETTY_MIDI, _MIDI = 2, 3  # NoteSequence.SourceInfo parser and encoding_type values
_INSTRUMENT_INFOS = 23 << 3 | 2  # the only field whose tag takes two bytes


class MidiParseError(Exception):
    """The fast path cannot or will not convert a file; note_seq's verdict is the one to use.

    Attributes:
        reason: Short stable slug, e.g. "truncated" or "data_byte_out_of_range".
        message: Human-readable detail with the offending values.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def midi_to_note_sequence(data: bytes) -> NoteSequence:
    """Converts Standard MIDI File bytes as note_seq.midi_io.midi_to_note_sequence does.

    id, filename and collection_name are left for the caller.

    Args:
        data: The file's bytes.

    Returns:
        A NoteSequence equal (==) to note_seq's.

    Raises:
        MidiParseError: note_seq rejects the file too, or its largest tick exceeds MAX_TICK.
    """
    raw = np.frombuffer(bytes(data), dtype=np.uint8)
    ev = _WORKSPACE.table(me.event_capacity(raw.shape[0]))
    n_ev, n_tracks, division, max_tick, empty, err, pos, val = me.parse_smf(raw, ev)
    if err != me.ERR_NONE:
        raise _error(err, pos, val)
    # pretty_midi's own checks, in its order, so that each file gets note_seq's reason.
    if n_tracks <= 0:
        raise MidiParseError("no_tracks", f"the header declares {n_tracks} tracks")
    if empty >= 0:
        raise MidiParseError("empty_track", f"track {empty} has no events")
    if max_tick + 1 > MAX_TICK:
        raise MidiParseError("too_many_ticks", f"largest tick {max_tick} >= {MAX_TICK}")
    buf, size, err, val = _build(raw, ev, n_ev, division, _WORKSPACE.work(n_ev + 1), _WORKSPACE.out)
    if err != me.ERR_NONE:
        raise _error(err, -1, val)
    _WORKSPACE.keep_out(buf)
    return NoteSequence.FromString(buf[:size].tobytes())


def _error(code: int, pos: int, val: int) -> MidiParseError:
    reason, template = _REASONS[code]
    return MidiParseError(reason, template.format(pos=pos, val=val))


class _Workspace(threading.local):
    """Arrays reused from call to call, one set per thread.

    Fresh arrays of a few hundred KB per file cost more than parsing it: the allocator returns
    them to the kernel when freed, and each call pays again for fresh zeroed pages.
    """

    KEEP_ROWS = 1 << 16  # ~10 MB per thread; a rarer, larger file gets arrays of its own
    KEEP_OUT = 1 << 24

    def __init__(self) -> None:
        self.ev = np.empty((0, me.N_COLS), dtype=np.int64)
        self.arrays: tuple[np.ndarray, ...] = tuple(
            np.empty((0, cols), dtype=np.int64) for cols in (5, 2, 4, 3)
        )
        self.out = np.empty(0, dtype=np.uint8)

    def table(self, rows: int) -> np.ndarray:
        """An event table of at least `rows` rows."""
        if rows > self.ev.shape[0]:
            ev = np.empty((self._grown(rows, self.ev.shape[0]), me.N_COLS), dtype=np.int64)
            if rows > self.KEEP_ROWS:
                return ev
            self.ev = ev
        return self.ev

    def work(self, rows: int) -> tuple[np.ndarray, ...]:
        """The arrays me.assign_instruments fills, of at least `rows` rows."""
        if rows > self.arrays[0].shape[0]:
            size = self._grown(rows, self.arrays[0].shape[0])
            arrays = tuple(np.empty((size, a.shape[1]), dtype=np.int64) for a in self.arrays)
            if rows > self.KEEP_ROWS:
                return arrays
            self.arrays = arrays
        return self.arrays

    def keep_out(self, buf: np.ndarray) -> None:
        """Keeps the output buffer _build had to grow, up to a size."""
        if self.out.shape[0] < buf.shape[0] <= self.KEEP_OUT:
            self.out = buf

    def _grown(self, rows: int, current: int) -> int:
        """Room for `rows`, doubling what there is while it stays within KEEP_ROWS."""
        return max(rows, min(max(4096, 2 * current), self.KEEP_ROWS))


_WORKSPACE = _Workspace()


@njit(cache=True)
def _tempo_map(ev: np.ndarray, n_ev: int, division: int) -> tuple:  # pragma: no cover - numba
    """pretty_midi's _tick_scales from track-0 tempos, and the time each segment starts.

    Returns ((segment ticks, seconds per tick, start seconds, segment count), error, value).
    """
    cap = 1
    for i in range(n_ev):
        cap += ev[i, me.COL_KIND] == me.EV_TEMPO
    seg_tick, scale, start = np.zeros(cap, np.int64), np.zeros(cap), np.zeros(cap)
    if division == 0:
        return (seg_tick, scale, start, 0), ERR_ZERO_RESOLUTION, 0
    scale[0], n = 60.0 / (120.0 * division), 1
    for i in range(n_ev):
        tick, tempo = ev[i, me.COL_TICK], ev[i, me.COL_A]
        if ev[i, me.COL_KIND] != me.EV_TEMPO:
            continue
        if tempo == 0:
            return (seg_tick, scale, start, 0), ERR_ZERO_TEMPO, tick
        tick_scale = 60.0 / ((6e7 / tempo) * division)
        if tick == 0:  # a tempo at tick 0 replaces the default rather than adding a segment
            scale[0], n = tick_scale, 1
        elif tick_scale != scale[n - 1]:  # a repeat is skipped, which changes later rounding
            seg_tick[n], scale[n], n = tick, tick_scale, n + 1
    for k in range(1, n):  # numpy's `last_end_time + tick_scale * arange(...)`, one element
        start[k] = start[k - 1] + scale[k - 1] * np.float64(seg_tick[k] - seg_tick[k - 1])
    return (seg_tick, scale, start, n), me.ERR_NONE, 0


@njit(cache=True, inline="always")
def _seconds(tick: int, tmap: tuple) -> float:  # pragma: no cover - numba
    """pretty_midi's __tick_to_time[tick], bit for bit, without its array of every tick."""
    seg_tick, scale, start, n = tmap
    lo, hi = 0, n - 1
    while lo < hi:  # the last segment that starts at or before tick
        mid = (lo + hi + 1) // 2
        if seg_tick[mid] <= tick:
            lo = mid
        else:
            hi = mid - 1
    return start[lo] + scale[lo] * np.float64(tick - seg_tick[lo])


@njit(cache=True)
def _check_signatures(
    ev: np.ndarray, n_ev: int, tmap: tuple
) -> tuple[int, int]:  # pragma: no cover
    """What pretty_midi's TimeSignature and KeySignature constructors check, in file order."""
    for i in range(n_ev):
        kind, tick = ev[i, me.COL_KIND], ev[i, me.COL_TICK]
        if kind != me.EV_TIME_SIGNATURE and kind != me.EV_KEY_SIGNATURE:
            continue
        if kind == me.EV_TIME_SIGNATURE and ev[i, me.COL_A] == 0:
            return ERR_TS_NUMERATOR, tick
        if _seconds(tick, tmap) < 0.0:
            return ERR_NEGATIVE_TIME, tick
    return me.ERR_NONE, 0


@njit(cache=True)
def _check_late(
    ev: np.ndarray, n_ev: int, division: int, notes: np.ndarray, n_notes: int, tmap: tuple
) -> tuple[int, int]:  # pragma: no cover - numba
    """pretty_midi's Note check (only a negative division fails it), then note_seq's int32 one."""
    for j in range(n_notes if division < 0 else 0):
        if _seconds(notes[j, 2], tmap) < _seconds(notes[j, 1], tmap):
            return ERR_NOTE_END, notes[j, 2]
    for i in range(n_ev):
        if ev[i, me.COL_KIND] == me.EV_TIME_SIGNATURE and ev[i, me.COL_B] > 30:
            return ERR_TS_DENOMINATOR, ev[i, me.COL_B]
    return me.ERR_NONE, 0


@njit(cache=True, inline="always")
def _varint(buf: np.ndarray, p: int, value: int) -> int:  # pragma: no cover - numba
    """Writes a protobuf varint; a negative int takes 10 bytes, as int32 fields do."""
    v = np.uint64(value)
    while v >= np.uint64(0x80):
        buf[p], v, p = np.uint8(v & np.uint64(0x7F)) | np.uint8(0x80), v >> np.uint64(7), p + 1
    buf[p] = np.uint8(v)
    return p + 1


@njit(cache=True, inline="always")
def _int(buf: np.ndarray, p: int, tag: int, value: int) -> int:  # pragma: no cover - numba
    """Writes a proto3 integer field, leaving out 0 as serialization does."""
    if value == 0:
        return p
    buf[p] = tag
    return _varint(buf, p + 1, value)


@intrinsic
def _bits(typingctx: object, value: types.Float) -> tuple[object, object]:
    """The IEEE-754 bits of a float64 as a uint64: a bitcast, which numba has no function for."""

    def codegen(
        context: object, builder: ir.IRBuilder, sig: object, args: list[ir.Value]
    ) -> ir.Value:
        return builder.bitcast(args[0], ir.IntType(64))

    return types.uint64(types.float64), codegen


@njit(cache=True, inline="always")
def _double(buf: np.ndarray, p: int, tag: int, value: float) -> int:  # pragma: no cover - numba
    """Writes a proto3 double field, little endian, leaving out +0.0 (all bits zero)."""
    bits: int = _bits(value)  # type: ignore[call-arg]
    if bits == 0:
        return p
    buf[p] = tag
    for k in range(8):
        buf[p + 1 + k] = np.uint8((bits >> np.uint64(8 * k)) & np.uint64(0xFF))
    return p + 9


@njit(cache=True, inline="always")
def _open(buf: np.ndarray, p: int, tag: int) -> int:  # pragma: no cover - numba
    """Starts a length-delimited field with a one-byte length placeholder; returns its body."""
    if tag > 127:
        buf[p], buf[p + 1] = np.uint8((tag & 0x7F) | 0x80), np.uint8(tag >> 7)
        return p + 3
    buf[p] = tag
    return p + 2


@njit(cache=True, inline="always")
def _close(buf: np.ndarray, body: int, p: int) -> int:  # pragma: no cover - numba
    """Writes the body's length, moving the body up if the length takes more than a byte."""
    size = p - body
    extra, rest = 0, size >> 7
    while rest > 0:
        extra, rest = extra + 1, rest >> 7
    if extra > 0:
        for k in range(p - 1, body - 1, -1):  # a loop: a slice copy costs more, even unused
            buf[k + extra] = buf[k]
    _varint(buf, body - 1, size)
    return p + extra


@njit(cache=True)
def _bucket(keys: np.ndarray, n: int, n_keys: int) -> tuple:  # pragma: no cover - numba
    """Stable counting sort of rows by key: (start per key, n_keys + 1 of them; row order)."""
    starts = np.zeros(n_keys + 1, dtype=np.int64)
    for i in range(n):
        starts[keys[i] + 1] += 1
    for k in range(n_keys):
        starts[k + 1] += starts[k]
    fill, order = starts[:-1].copy(), np.empty(n, dtype=np.int64)
    for i in range(n):
        order[fill[keys[i]]], fill[keys[i]] = i, fill[keys[i]] + 1
    return starts, order


@njit(cache=True)
def _encode_meta(
    buf: np.ndarray, ev: np.ndarray, n_ev: int, division: int, tmap: tuple
) -> int:  # pragma: no cover
    """ticks_per_quarter, source_info, time and key signatures, and tempos, as midi_io sets them."""
    p = _int(buf, 0, 0x20, division)
    for byte in (0x6A, 4, 0x10, _MIDI, 0x18, _PRETTY_MIDI):
        buf[p], p = byte, p + 1
    for i in range(n_ev):
        kind, a, b = ev[i, me.COL_KIND], ev[i, me.COL_A], ev[i, me.COL_B]
        if kind != me.EV_TIME_SIGNATURE and kind != me.EV_KEY_SIGNATURE:
            continue
        body = _open(buf, p, 0x2A if kind == me.EV_TIME_SIGNATURE else 0x32)
        q = _double(buf, body, 0x09, _seconds(ev[i, me.COL_TICK], tmap))
        if kind == me.EV_TIME_SIGNATURE:
            q = _int(buf, _int(buf, q, 0x10, a), 0x18, 1 << b)
        else:  # mido names the key from its sharps; pretty_midi turns the name into a number
            tonic = ((7 * a) % 12 + 12) % 12
            q = _int(buf, _int(buf, q, 0x10, (tonic + 9) % 12 if b == 1 else tonic), 0x18, b)
        p = _close(buf, body, q)
    seg_tick, scale, _start, n_seg = tmap
    for k in range(n_seg):
        body = _open(buf, p, 0x3A)
        q = _double(buf, body, 0x09, _seconds(seg_tick[k], tmap))
        p = _close(buf, body, _double(buf, q, 0x11, 60.0 / (scale[k] * division)))
    return p


@njit(cache=True)
def _encode_notes(
    buf: np.ndarray, p: int, work: tuple, n_notes: int, n_insts: int, tmap: tuple
) -> int:  # pragma: no cover
    """Notes, instrument by instrument in creation order, then total_time as midi_io sets it."""
    notes, _controls, insts, _pool = work
    _starts, order = _bucket(notes[:, 0], n_notes, n_insts)
    total = 0.0
    for j in range(n_notes):
        row = order[j]
        inst, on, off = notes[row, 0], _seconds(notes[row, 1], tmap), _seconds(notes[row, 2], tmap)
        if total == 0.0 or off > total:  # midi_io: `if not total_time or end > total_time`
            total = off
        body = _open(buf, p, 0x42)
        q = _int(buf, _int(buf, body, 0x08, notes[row, 3]), 0x10, notes[row, 4])
        q = _double(buf, _double(buf, q, 0x19, on), 0x21, off)
        q = _int(buf, _int(buf, q, 0x38, inst), 0x40, insts[inst, 0])
        p = _close(buf, body, _int(buf, q, 0x48, 1 if insts[inst, 1] == 9 else 0))
    return _double(buf, p, 0x49, total)


@njit(cache=True)
def _encode_controls(
    buf: np.ndarray, p: int, ev: np.ndarray, work: tuple, counts: tuple, tmap: tuple
) -> int:  # pragma: no cover - numba
    """Pitch bends and control changes: each instrument's list, shared or not, in order."""
    _notes, controls, insts, _pool = work
    n_controls, n_insts, n_groups = counts
    starts, order = _bucket(controls[:, 0], n_controls, n_groups)
    for inst in range(n_insts):
        group, drum = insts[inst, 2], 1 if insts[inst, 1] == 9 else 0
        for j in range(starts[group], starts[group + 1]):
            row = controls[order[j], 1]
            a, b = ev[row, me.COL_A], ev[row, me.COL_B]
            bend = ev[row, me.COL_KIND] == me.EV_PITCH_BEND
            body = _open(buf, p, 0x52 if bend else 0x5A)
            q = _int(buf, _double(buf, body, 0x09, _seconds(ev[row, me.COL_TICK], tmap)), 0x10, a)
            if bend:  # bend, instrument, program, is_drum
                q = _int(buf, _int(buf, _int(buf, q, 0x18, inst), 0x20, insts[inst, 0]), 0x28, drum)
            else:  # control_number, control_value, instrument, program, is_drum
                q = _int(buf, _int(buf, _int(buf, q, 0x18, b), 0x20, inst), 0x28, insts[inst, 0])
                q = _int(buf, q, 0x30, drum)
            p = _close(buf, body, q)
    return p


@njit(cache=True)
def _encode_names(
    buf: np.ndarray, p: int, d: np.ndarray, ev: np.ndarray, insts: np.ndarray, n_insts: int
) -> int:  # pragma: no cover
    """instrument_infos of named instruments: mido decodes names as latin-1, protobuf has UTF-8."""
    for inst in range(n_insts):
        row = insts[inst, 3]
        if row < 0 or ev[row, me.COL_B] == 0:
            continue
        body = _open(buf, p, _INSTRUMENT_INFOS)
        q = name = _open(buf, _int(buf, body, 0x08, inst), 0x12)
        for k in range(ev[row, me.COL_A], ev[row, me.COL_A] + ev[row, me.COL_B]):
            if d[k] < 0x80:
                buf[q], q = d[k], q + 1
            else:
                buf[q], buf[q + 1], q = 0xC0 | (d[k] >> 6), 0x80 | (d[k] & 0x3F), q + 2
        p = _close(buf, body, _close(buf, name, q))
    return p


@njit(cache=True)
def _build(
    d: np.ndarray, ev: np.ndarray, n_ev: int, division: int, work: tuple, out: np.ndarray
) -> tuple:  # pragma: no cover - numba
    """The serialized NoteSequence of a parsed file: (buffer, size, error, error value).

    work is me.assign_instruments's; out is written to if it is large enough.
    """
    tmap, err, val = _tempo_map(ev, n_ev, division)
    if err == me.ERR_NONE:
        err, val = _check_signatures(ev, n_ev, tmap)
    if err != me.ERR_NONE:
        return out, 0, err, val
    n_notes, n_controls, n_insts, n_groups = me.assign_instruments(ev, n_ev, work)
    notes, controls, insts, _pool = work
    err, val = _check_late(ev, n_ev, division, notes, n_notes, tmap)
    if err != me.ERR_NONE:
        return out, 0, err, val
    group_size = np.zeros(n_groups + 1, dtype=np.int64)
    for k in range(n_controls):
        group_size[controls[k, 0]] += 1
    # Upper bounds: 32 bytes per signature (n_ev counts them) or tempo, 48 per note or control.
    size = 64 + 32 * (n_ev + tmap[3]) + 48 * n_notes
    for inst in range(n_insts):  # a control is written once per instrument sharing its list
        size += 48 * group_size[insts[inst, 2]] + 32
        size += 2 * ev[insts[inst, 3], me.COL_B] if insts[inst, 3] >= 0 else 0
    buf = out if out.shape[0] >= size else np.empty(size, dtype=np.uint8)
    p = _encode_meta(buf, ev, n_ev, division, tmap)
    p = _encode_notes(buf, p, work, n_notes, n_insts, tmap)
    p = _encode_controls(buf, p, ev, work, (n_controls, n_insts, n_groups), tmap)
    p = _encode_names(buf, p, d, ev, insts, n_insts)
    return buf, p, me.ERR_NONE, 0
