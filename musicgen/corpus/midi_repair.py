"""MIDI files that players read but Magenta's reader (mido) rejects: the cause, and a repair.

Two irregularities are common in real corpora:

* ``unknown_chunk``: a chunk that is neither MThd nor MTrk (e.g. "Junk", XF or RIFF data).
  The SMF spec tells readers to skip such chunks; mido stops with "no MTrk header".
* ``running_status_across_sysex``: channel data bytes resume the running status that was in
  effect before a SysEx. SMF 1.0 says a SysEx cancels running status, so the file is
  irregular, but players (and the Jazz-Soft test suite that ships such a file) resume the
  previous channel status. mido instead takes the SysEx as the running status, reads the notes
  as SysEx data, and ends in an EOFError far from the cause.

``diagnose`` finds the first such irregularity and returns the file rewritten in the form mido
reads (unknown chunks dropped, the status byte written out), so the lenient mode converts it with
the very parser the default mode uses. Pure functions of the bytes; only failed files get here,
so this is plain Python.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

UNKNOWN_CHUNK = "unknown_chunk"
RUNNING_STATUS_ACROSS_SYSEX = "running_status_across_sysex"
RECOVERABLE = (UNKNOWN_CHUNK, RUNNING_STATUS_ACROSS_SYSEX)


@dataclass(frozen=True)
class Repair:
    """Why Magenta's reader rejects a file a player reads, and the file as mido would accept it."""

    reason: str
    message: str
    data: bytes


class _Irregular(Exception):
    """The file is broken in a way no player recovers from: nothing to repair."""


def diagnose(data: bytes) -> Repair | None:
    """The first recoverable irregularity of an SMF file and its repair; None if there is none,
    or if the file is also broken in a way that is not recoverable."""
    try:
        return _scan(data)
    except (_Irregular, struct.error, IndexError):
        return None


def _scan(data: bytes) -> Repair | None:
    if data[:4] != b"MThd":
        return None
    (header_size,) = struct.unpack(">I", data[4:8])
    (ntracks,) = struct.unpack(">H", data[10:12])
    pos = 8 + header_size
    out = [data[:pos]]
    found: list[tuple[str, str]] = []  # (reason, message) in file order
    tracks = 0
    while pos < len(data) and tracks < ntracks:
        if pos + 8 > len(data):
            raise _Irregular("truncated chunk header")
        kind, (size,) = data[pos : pos + 4], struct.unpack(">I", data[pos + 4 : pos + 8])
        body = data[pos + 8 : pos + 8 + size]
        if len(body) != size:
            raise _Irregular("truncated chunk")
        if kind == b"MTrk":
            fixed, notes = _repair_track(body, pos + 8)
            out.append(b"MTrk" + struct.pack(">I", len(fixed)) + fixed)
            found.extend((RUNNING_STATUS_ACROSS_SYSEX, note) for note in notes)
            tracks += 1
        elif all(0x20 <= b < 0x7F for b in kind):
            name = kind.decode("ascii")
            found.append(
                (
                    UNKNOWN_CHUNK,
                    f"a {name!r} chunk of {size} bytes at offset {pos}, where Magenta's reader "
                    "(mido) expects MTrk; the SMF spec says readers skip unknown chunks",
                )
            )
        else:
            raise _Irregular("garbage where a chunk header belongs")
        pos += 8 + size
    if not found:
        return None
    out.append(data[pos:])  # what follows the last track, as it was (mido ignores it too)
    reason, message = found[0]
    more = f" (and {len(found) - 1} more such places)" if len(found) > 1 else ""
    return Repair(reason, message + more, b"".join(out))


def _repair_track(body: bytes, base: int) -> tuple[bytes, list[str]]:
    """The track with the channel status written out wherever it resumes after a SysEx, and a
    note per such place. ``base`` is the body's offset in the file, for the messages."""
    out = bytearray()
    notes: list[str] = []
    pos, channel_status, after_sysex = 0, -1, False
    while pos < len(body):
        start = pos
        while body[pos] & 0x80:  # the delta time (a variable-length quantity)
            pos += 1
        pos += 1
        out += body[start:pos]
        status = body[pos]
        if status < 0x80:  # running status
            if channel_status < 0:
                raise _Irregular("running status with no status before it")
            if after_sysex:
                notes.append(
                    f"data byte 0x{status:02x} at offset {base + pos} resumes the channel status "
                    f"0x{channel_status:02x} after a SysEx; Magenta's reader (mido) takes it as "
                    "SysEx data and runs off the end of the track"
                )
                out.append(channel_status)  # written out, so mido reads what players play
            status = channel_status
        else:
            out.append(status)
            pos += 1
        if status == 0xFF:  # meta: type, length, data; leaves running status alone
            end = _after_vlq(body, pos + 1)
            end += _vlq(body, pos + 1)
        elif status in (0xF0, 0xF7):  # SysEx: length, data
            end = _after_vlq(body, pos) + _vlq(body, pos)
            after_sysex = True
        elif 0x80 <= status < 0xF0:
            end = pos + (1 if 0xC0 <= status < 0xE0 else 2)
            channel_status, after_sysex = status, False
        else:
            raise _Irregular(f"system message 0x{status:02x} inside a track")
        if end > len(body) or any(b & 0x80 for b in body[pos:end] if 0x80 <= status < 0xF0):
            raise _Irregular("message runs past the track or has a status byte as data")
        out += body[pos:end]
        pos = end
    return bytes(out), notes


def _vlq(data: bytes, pos: int) -> int:
    value = 0
    for _ in range(4):
        byte = data[pos]
        value = (value << 7) | (byte & 0x7F)
        pos += 1
        if not byte & 0x80:
            return value
    raise _Irregular("variable-length quantity longer than 4 bytes")


def _after_vlq(data: bytes, pos: int) -> int:
    for _ in range(4):
        if not data[pos] & 0x80:
            return pos + 1
        pos += 1
    raise _Irregular("variable-length quantity longer than 4 bytes")
