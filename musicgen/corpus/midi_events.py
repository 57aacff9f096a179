"""MIDI bytes to events as mido reads them, and events to notes as pretty_midi pairs them."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Columns of the event table parse_smf fills: one row per event pretty_midi looks at.
COL_TICK, COL_KIND, COL_TRACK, COL_CHANNEL, COL_A, COL_B = range(6)
N_COLS = 6

# Event kinds, with what columns A / B hold.
EV_NOTE_ON = 1  # note / velocity; only note_on with velocity > 0
EV_NOTE_OFF = 2  # note / velocity; note_off, or note_on with velocity 0
EV_CONTROL = 3  # control number / value
EV_PITCH_BEND = 4  # bend in -8192..8191 / -
EV_PROGRAM = 5  # program / -
EV_TRACK_NAME = 6  # offset of the name's bytes in the file / their count
# pretty_midi reads tempo, time and key signatures from track 0 only, so only those are kept.
EV_TEMPO = 7  # microseconds per quarter / -
EV_TIME_SIGNATURE = 8  # numerator / denominator exponent
EV_KEY_SIGNATURE = 9  # sharps (negative: flats) / mode (0 major, 1 minor)

# Error codes: each stands for an exception mido raises while reading the file.
ERR_NONE = 0
ERR_EMPTY_FILE = 1  # EOFError on a 0-byte file
ERR_TRUNCATED = 2  # EOFError
ERR_BAD_HEADER = 3  # OSError: MThd not found
ERR_NO_MTRK = 4  # OSError: no MTrk header at start of track
ERR_RUNNING_STATUS = 5  # OSError: running status without last_status
ERR_UNDEFINED_STATUS = 6  # OSError: undefined status byte
ERR_DATA_BYTE = 7  # OSError / ValueError: data byte must be in range 0..127
ERR_TOO_LONG = 8  # OSError: message length exceeds maximum length
ERR_SHORT_META = 9  # IndexError decoding a meta message with too few data bytes
ERR_SMPTE = 10  # KeyError / ValueError decoding an smpte_offset
ERR_TIME_SIGNATURE = 11  # ValueError: denominator must be a power of 2 (math.log is inexact)
ERR_KEY_SIGNATURE = 12  # KeySignatureError
ERR_SYSTEM_MESSAGE = 13  # ValueError: wrong number of bytes (running status on a 1-byte message)

MAX_MESSAGE_LENGTH = 1_000_000  # mido.midifiles.midifiles.MAX_MESSAGE_LENGTH
TICK_CAP = 1 << 50  # mido's ints never overflow; ours saturate far above any tick we accept
_VLQ_CAP = 1 << 40


def _message_lengths() -> np.ndarray:
    """Bytes per message, status included, for each status byte as in mido; 0 = undefined."""
    lengths = np.zeros(256, dtype=np.int64)
    for status in range(0x80, 0xF0):
        lengths[status] = 2 if 0xC0 <= status < 0xE0 else 3
    for status, length in ((0xF1, 2), (0xF2, 3), (0xF3, 2)):
        lengths[status] = length
    for status in (0xF6, 0xF8, 0xFA, 0xFB, 0xFC, 0xFE):
        lengths[status] = 1
    return lengths


def _bad_denominator_exponents() -> np.ndarray:
    """mido takes denominator 2**e only if math.log(2**e, 2) is integral: not so for e = 29, 31.."""
    return np.array([math.log(2**e, 2) != int(math.log(2**e, 2)) for e in range(256)])


# Meta types mido knows. It builds every other one without its delta time (build_meta_message
# does not pass it on), so an unknown meta event shifts the rest of its track earlier.
_KNOWN_META = np.isin(
    np.arange(256), (0, 1, 2, 3, 4, 5, 6, 7, 9, 0x20, 0x21, 0x2F, 0x51, 0x54, 0x58, 0x59, 0x7F)
)
_MESSAGE_LENGTH = _message_lengths()
_BAD_DENOMINATOR_EXPONENT = _bad_denominator_exponents()


def event_capacity(n_bytes: int) -> int:
    """Rows parse_smf may fill for a file of n_bytes: every message takes at least two bytes."""
    return n_bytes // 2 + 4


@njit(cache=True, inline="always")
def _byte(d: np.ndarray, i: int) -> int:  # pragma: no cover - numba
    """d[i] as an int64: numba keeps arithmetic on a uint8 unsigned, and shifts it as such."""
    return np.int64(d[i])  # type: ignore[return-value]


@njit(cache=True)
def _big_endian(d: np.ndarray, i: int, n: int) -> int:  # pragma: no cover - numba
    """The unsigned big-endian integer in d[i:i + n]."""
    value = 0
    for k in range(n):
        value = (value << 8) | _byte(d, i + k)
    return value


@njit(cache=True)
def _signed(value: int, bits: int) -> int:  # pragma: no cover - numba
    """value read as a two's-complement integer of `bits` bits."""
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


@njit(cache=True, inline="always")
def _read_vlq(d: np.ndarray, pos: int) -> tuple[int, int]:  # pragma: no cover - numba
    """Reads a variable-length quantity: (value, new position), or (0, -1) at end of file."""
    value = 0
    while True:
        if pos >= d.shape[0]:
            return 0, -1
        byte = _byte(d, pos)
        pos += 1
        if value < _VLQ_CAP:
            value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos


@njit(cache=True)
def _check_smpte(d: np.ndarray, p: int, length: int) -> int:  # pragma: no cover - numba
    """mido decodes smpte_offset field by field, range-checking each value as it sets it."""
    # (byte, largest value): frame-rate code (past 3: KeyError), minutes, seconds, frames, subframes
    for k, largest in ((0, 3), (1, 59), (2, 59), (3, 255), (4, 99)):
        if length <= k:
            return ERR_SHORT_META
        if (d[p] >> 5 if k == 0 else d[p + k]) > largest:
            return ERR_SMPTE
    return ERR_NONE


@njit(cache=True)
def _check_meta(d: np.ndarray, mtype: int, p: int, length: int) -> int:  # pragma: no cover
    """The error mido's MetaSpec.decode raises for this meta message's data, or ERR_NONE."""
    if (
        (mtype == 0x00 and length == 1)  # sequence_number: 0 or at least 2 bytes
        or (mtype == 0x20 and length < 1)  # channel_prefix
        or (mtype == 0x51 and length < 3)  # set_tempo
        or (mtype in (0x58, 0x59) and length < 2)  # time_signature, key_signature
    ):
        return ERR_SHORT_META
    if mtype == 0x54:
        return _check_smpte(d, p, length)
    if mtype == 0x58:  # numerator, denominator (checked as it is set), then two more bytes
        if _BAD_DENOMINATOR_EXPONENT[d[p + 1]]:
            return ERR_TIME_SIGNATURE
        return ERR_SHORT_META if length < 4 else ERR_NONE
    if mtype == 0x59:
        sharps = _signed(_byte(d, p), 8)
        if sharps < -7 or sharps > 7 or d[p + 1] > 1:
            return ERR_KEY_SIGNATURE
    return ERR_NONE


@njit(cache=True, inline="always")
def _add(
    ev: np.ndarray, n_ev: int, tick: int, kind: int, track: int, channel: int, a: int, b: int
) -> int:  # pragma: no cover - numba
    """Appends one row to the event table; returns the new row count."""
    ev[n_ev, COL_TICK], ev[n_ev, COL_KIND], ev[n_ev, COL_TRACK] = tick, kind, track
    ev[n_ev, COL_CHANNEL], ev[n_ev, COL_A], ev[n_ev, COL_B] = channel, a, b
    return n_ev + 1


@njit(cache=True)
def _parse_meta(
    d: np.ndarray, pos: int, tick: int, track: int, ev: np.ndarray, n_ev: int
) -> tuple[int, int, int, int]:  # pragma: no cover - numba
    """Reads a meta event after its 0xFF: (position, row count, error, error value)."""
    if pos >= d.shape[0]:
        return pos, n_ev, ERR_TRUNCATED, 0
    mtype = _byte(d, pos)
    length, pos = _read_vlq(d, pos + 1)
    if pos < 0:
        return pos, n_ev, ERR_TRUNCATED, 0
    if length > MAX_MESSAGE_LENGTH:  # mido checks this before reading
        return pos, n_ev, ERR_TOO_LONG, length
    if pos + length > d.shape[0]:
        return pos, n_ev, ERR_TRUNCATED, 0
    err = _check_meta(d, mtype, pos, length)
    if err != ERR_NONE:
        return pos, n_ev, err, mtype
    p = pos
    if mtype == 0x03:
        n_ev = _add(ev, n_ev, tick, EV_TRACK_NAME, track, 0, p, length)
    elif track == 0 and mtype == 0x51:
        tempo = _big_endian(d, p, 3)
        n_ev = _add(ev, n_ev, tick, EV_TEMPO, track, 0, tempo, 0)
    elif track == 0 and mtype == 0x58:
        n_ev = _add(ev, n_ev, tick, EV_TIME_SIGNATURE, track, 0, _byte(d, p), _byte(d, p + 1))
    elif track == 0 and mtype == 0x59:
        sharps = _signed(_byte(d, p), 8)
        n_ev = _add(ev, n_ev, tick, EV_KEY_SIGNATURE, track, 0, sharps, _byte(d, p + 1))
    return p + length, n_ev, ERR_NONE, 0


@njit(cache=True)
def _parse_sysex(d: np.ndarray, pos: int) -> tuple[int, int, int]:  # pragma: no cover - numba
    """Reads a sysex body after its F0 or F7: (position, error, error value)."""
    length, pos = _read_vlq(d, pos)
    if pos < 0:
        return pos, ERR_TRUNCATED, 0
    if length > MAX_MESSAGE_LENGTH:
        return pos, ERR_TOO_LONG, length
    end = pos + length
    if end > d.shape[0]:
        return pos, ERR_TRUNCATED, 0
    # mido drops one leading F0 and one trailing F7, then requires the rest to be data bytes.
    first = pos + 1 if end > pos and d[pos] == 0xF0 else pos
    last = end - 1 if end > first and d[end - 1] == 0xF7 else end
    for i in range(first, last):
        if d[i] > 127:
            return end, ERR_DATA_BYTE, _byte(d, i)
    return end, ERR_NONE, 0


@njit(cache=True, inline="always")
def _parse_channel(
    d: np.ndarray,
    pos: int,
    status: int,
    peek: int,
    tick: int,
    track: int,
    ev: np.ndarray,
    n_ev: int,
) -> tuple[int, int, int, int]:  # pragma: no cover - numba
    """Reads a channel or system message: (position, row count, error, error value).

    peek is the first data byte when it came as running status, else -1.
    """
    length = _MESSAGE_LENGTH[status]
    if length == 0:
        return pos, n_ev, ERR_UNDEFINED_STATUS, status
    size = length - 1 - (1 if peek >= 0 else 0)  # data bytes still to read
    if size > 0 and pos + size > d.shape[0]:
        return pos, n_ev, ERR_TRUNCATED, 0
    for i in range(pos, pos + size):
        if d[i] > 127:
            return pos, n_ev, ERR_DATA_BYTE, _byte(d, i)
    if size < 0:  # running status on a one-byte system message: its data byte is one too many
        return pos, n_ev, ERR_SYSTEM_MESSAGE, status
    data0 = peek if peek >= 0 else (_byte(d, pos) if size > 0 else 0)
    data1 = _byte(d, pos + size - 1) if length == 3 else 0
    kind, channel = status & 0xF0, status & 0x0F
    if kind == 0x90 and data1 > 0:
        n_ev = _add(ev, n_ev, tick, EV_NOTE_ON, track, channel, data0, data1)
    elif kind == 0x80 or kind == 0x90:
        n_ev = _add(ev, n_ev, tick, EV_NOTE_OFF, track, channel, data0, data1)
    elif kind == 0xB0:
        n_ev = _add(ev, n_ev, tick, EV_CONTROL, track, channel, data0, data1)
    elif kind == 0xC0:
        n_ev = _add(ev, n_ev, tick, EV_PROGRAM, track, channel, data0, 0)
    elif kind == 0xE0:
        n_ev = _add(ev, n_ev, tick, EV_PITCH_BEND, track, channel, data0 + data1 * 128 - 8192, 0)
    return pos + size, n_ev, ERR_NONE, 0


@njit(cache=True)
def _parse_track(
    d: np.ndarray, pos: int, size: int, track: int, ev: np.ndarray, n_ev: int
) -> tuple[int, int, int, int, int, int, int]:  # pragma: no cover - numba
    """Reads one MTrk body as mido's read_track does.

    Returns (position, row count, message count, last tick, error, error offset, error value).
    """
    start, last_status, tick, n_msgs = pos, -1, 0, 0
    # mido stops only when the position lands exactly on the declared end: after a message that
    # overruns it, mido reads on into whatever follows until something fails, and so do we.
    while pos - start != size:
        at = pos
        delta, pos = _read_vlq(d, pos)
        if pos < 0 or pos >= d.shape[0]:
            return pos, n_ev, n_msgs, tick, ERR_TRUNCATED, at, 0
        status, peek = _byte(d, pos), -1
        if status != 0xFF or pos + 1 >= d.shape[0] or _KNOWN_META[d[pos + 1]]:
            tick = min(tick + delta, TICK_CAP)
        pos += 1
        if status < 0x80:
            if last_status < 0:
                return pos, n_ev, n_msgs, tick, ERR_RUNNING_STATUS, at, status
            status, peek = last_status, status
        elif status != 0xFF:  # every status but meta's sets running status, sysex's included
            last_status = status
        if status == 0xFF:
            pos, n_ev, err, val = _parse_meta(d, pos, tick, track, ev, n_ev)
        elif status == 0xF0 or status == 0xF7:  # under running status the peeked byte is lost
            pos, err, val = _parse_sysex(d, pos)
        else:
            pos, n_ev, err, val = _parse_channel(d, pos, status, peek, tick, track, ev, n_ev)
        if err != ERR_NONE:
            return pos, n_ev, n_msgs, tick, err, at, val
        n_msgs += 1
    return pos, n_ev, n_msgs, tick, ERR_NONE, 0, 0


@njit(cache=True)
def parse_smf(
    d: np.ndarray, ev: np.ndarray
) -> tuple[int, int, int, int, int, int, int, int]:  # pragma: no cover
    """Parses a file into the event table ev (event_capacity rows), in file order.

    Returns (rows, track count, division, max tick, first empty track or -1, error, error offset,
    error value). Rows come grouped by track and in tick order within a track.
    """
    n = d.shape[0]
    if n == 0:
        return 0, 0, 0, 0, -1, ERR_EMPTY_FILE, 0, 0
    if n < 8:
        return 0, 0, 0, 0, -1, ERR_TRUNCATED, n, 0
    if d[0] != 0x4D or d[1] != 0x54 or d[2] != 0x68 or d[3] != 0x64:  # b"MThd"
        return 0, 0, 0, 0, -1, ERR_BAD_HEADER, 0, 0
    size = _big_endian(d, 4, 4)
    available = min(size, n - 8)  # mido reads `size` bytes of header and needs 6 of them
    if available < 6:
        return 0, 0, 0, 0, -1, ERR_TRUNCATED, n, 0
    n_tracks = _signed(_big_endian(d, 10, 2), 16)  # struct '>hhh': signed
    division = _signed(_big_endian(d, 12, 2), 16)
    pos, n_ev, max_tick, first_empty = 8 + available, 0, -1, -1
    for track in range(n_tracks):
        err, val = ERR_NONE, track
        if n - pos < 8:
            err = ERR_TRUNCATED
        elif d[pos] != 0x4D or d[pos + 1] != 0x54 or d[pos + 2] != 0x72 or d[pos + 3] != 0x6B:
            err = ERR_NO_MTRK  # mido does not skip unknown chunks, though the SMF spec says to
        if err != ERR_NONE:
            return n_ev, n_tracks, division, max_tick, first_empty, err, pos, val
        size = _big_endian(d, pos + 4, 4)
        pos, n_ev, n_msgs, tick, err, at, val = _parse_track(d, pos + 8, size, track, ev, n_ev)
        if err != ERR_NONE:
            return n_ev, n_tracks, division, max_tick, first_empty, err, at, val
        if n_msgs == 0 and first_empty < 0:
            first_empty = track
        if n_msgs > 0:
            max_tick = max(max_tick, tick)
    return n_ev, n_tracks, division, max_tick, first_empty, ERR_NONE, 0, 0


@njit(cache=True, inline="always")
def _closes_any(tick: int, node: int, pool: np.ndarray) -> bool:  # pragma: no cover - numba
    """Whether a note-off at tick closes an open note: only then does pretty_midi need one."""
    while node >= 0:
        if pool[node, 0] != tick:
            return True
        node = pool[node, 2]
    return False


@njit(cache=True, inline="always")
def _close_notes(
    ev: np.ndarray, i: int, open_notes: tuple, notes: np.ndarray, n_notes: int, inst: int
) -> int:  # pragma: no cover - numba
    """pretty_midi's note-off: ends every open note-on of its key from an earlier tick."""
    head, tail, pool = open_notes
    key, tick = ev[i, COL_CHANNEL] * 128 + ev[i, COL_A], ev[i, COL_TICK]
    node, kept_head, kept_tail, n_closed = head[key], -1, -1, 0
    while node >= 0:
        if pool[node, 0] != tick:
            notes[n_notes, 0], notes[n_notes, 1], notes[n_notes, 2] = inst, pool[node, 0], tick
            notes[n_notes, 3], notes[n_notes, 4] = ev[i, COL_A], pool[node, 1]
            n_notes, n_closed = n_notes + 1, n_closed + 1
        elif kept_head < 0:
            kept_head = kept_tail = node
        else:
            pool[kept_tail, 2], kept_tail = node, node
        node = pool[node, 2]
    # Note-ons from this very tick stay open only if the off ended something older; a note-on
    # and a note-off on one tick with nothing older open give no note at all.
    if n_closed > 0 and kept_head >= 0:
        pool[kept_tail, 2] = -1
        head[key], tail[key] = kept_head, kept_tail
    else:
        head[key] = -1
    return n_notes


@njit(cache=True)
def assign_instruments(
    ev: np.ndarray, n_ev: int, work: tuple
) -> tuple[int, int, int, int]:  # pragma: no cover
    """pretty_midi's _load_instruments over the event table.

    work is (notes, controls, insts, pool), int64 arrays of >= n_ev + 1 rows and 5, 2, 4, 3
    columns. Fills notes (instrument, on tick, off tick, pitch, velocity) in note-off order,
    controls (group, event row) for control changes and pitch bends, and insts (program,
    channel, group, track-name event row or -1) in creation order; pool is scratch. Returns the
    counts (notes, controls, instruments, groups).

    A group is one of pretty_midi's control lists. Controls that come before a (channel, track)
    has an instrument for the current program go to a "straggler" list; an instrument created
    later on that (channel, track) takes that very list object, so everything appended to the
    straggler afterwards shows up under it too, and under each instrument created after it.
    """
    notes, controls, insts, pool = work
    head = np.full(2048, -1, dtype=np.int64)  # open note-ons per channel * 128 + pitch
    tail = np.full(2048, -1, dtype=np.int64)
    inst_of = np.full(2048, -1, dtype=np.int64)  # instrument per program * 16 + channel
    straggler = np.full(16, -1, dtype=np.int64)  # group per channel
    program = np.zeros(16, dtype=np.int64)
    n_notes = n_controls = n_insts = n_groups = n_pool = 0
    track, name_row = -1, -1
    for i in range(n_ev):
        if ev[i, COL_TRACK] != track:  # all of the state above is per track
            track, name_row = ev[i, COL_TRACK], -1
            head[:], inst_of[:], straggler[:], program[:] = -1, -1, -1, 0
        kind, ch = ev[i, COL_KIND], ev[i, COL_CHANNEL]
        key, slot = ch * 128 + ev[i, COL_A], program[ch] * 16 + ch
        if kind == EV_TRACK_NAME:
            name_row = i  # an instrument is named after its track's name when it is created
        elif kind == EV_PROGRAM:
            program[ch] = ev[i, COL_A]
        elif kind == EV_NOTE_ON:
            pool[n_pool, 0], pool[n_pool, 1], pool[n_pool, 2] = ev[i, COL_TICK], ev[i, COL_B], -1
            if head[key] < 0:
                head[key] = n_pool
            else:
                pool[tail[key], 2] = n_pool
            tail[key], n_pool = n_pool, n_pool + 1
        elif kind == EV_NOTE_OFF and head[key] >= 0:
            # The program at the note-off, not at the note-on, picks the instrument.
            if inst_of[slot] < 0 and _closes_any(ev[i, COL_TICK], head[key], pool):
                group = straggler[ch]
                if group < 0:
                    group, n_groups = n_groups, n_groups + 1
                insts[n_insts, 0], insts[n_insts, 1] = program[ch], ch
                insts[n_insts, 2], insts[n_insts, 3] = group, name_row
                inst_of[slot], n_insts = n_insts, n_insts + 1
            n_notes = _close_notes(ev, i, (head, tail, pool), notes, n_notes, inst_of[slot])
        elif kind in (EV_CONTROL, EV_PITCH_BEND):
            group = insts[inst_of[slot], 2] if inst_of[slot] >= 0 else straggler[ch]
            if group < 0:
                straggler[ch], group, n_groups = n_groups, n_groups, n_groups + 1
            controls[n_controls, 0], controls[n_controls, 1] = group, i
            n_controls += 1
    return n_notes, n_controls, n_insts, n_groups
