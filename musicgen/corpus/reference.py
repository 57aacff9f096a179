"""note_seq's own readers (Magenta's reference behaviour), with failures classified into reasons."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from note_seq.protobuf.music_pb2 import NoteSequence

# Substrings of note_seq / pretty_midi / mido messages -> stable reason slugs for stats.json.
_MIDI_REASONS: tuple[tuple[str, str], ...] = (
    ("EOFError", "truncated"),
    ("data byte must be in range", "data_byte_out_of_range"),
    ("undefined status byte", "undefined_status_byte"),
    ("no MTrk header", "bad_chunk_header"),
    ("MThd not found", "bad_chunk_header"),
    ("largest tick", "too_many_ticks"),
    ("Invalid time signature denominator", "invalid_time_signature"),
    ("Invalid midi_mode", "invalid_key_signature"),
)


def import_note_seq() -> None:
    """Imports note_seq once, quietly: its package import pulls in pydub, which warns about ffmpeg
    (audio only, never used here) in every Ray worker."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Couldn't find ffmpeg", category=RuntimeWarning)
        import note_seq  # noqa: F401


class ReferenceConversionError(Exception):
    """note_seq rejected the input; `reason` is a slug, `message` note_seq's own words."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def classify_midi_error(message: str, data: bytes) -> str:
    """Maps a note_seq MIDI error message to a reason slug."""
    if not data:
        return "empty_file"
    for needle, reason in _MIDI_REASONS:
        if needle in message:
            return reason
    return "midi_conversion_error"


def midi_to_note_sequence(data: bytes) -> NoteSequence:
    """`note_seq.midi_io.midi_to_note_sequence`, exactly as Magenta's converter calls it."""
    import_note_seq()
    from note_seq import midi_io

    try:
        with warnings.catch_warnings():
            # pretty_midi warns on tempo events outside track 0, which it ignores by design.
            warnings.simplefilter("ignore", RuntimeWarning)
            return midi_io.midi_to_note_sequence(data)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        raise ReferenceConversionError(classify_midi_error(message, data), message) from exc


def musicxml_to_note_sequence(path: str) -> NoteSequence:
    """`note_seq.musicxml_reader.musicxml_file_to_sequence_proto` on a local file."""
    import_note_seq()
    from note_seq import musicxml_reader

    try:
        return musicxml_reader.musicxml_file_to_sequence_proto(path)
    except Exception as exc:
        raise ReferenceConversionError(
            "musicxml_conversion_error", f"{type(exc).__name__}: {exc}"
        ) from exc


def abc_to_note_sequences(data: bytes) -> tuple[dict[int, NoteSequence], list[str]]:
    """`note_seq.abc_parser.parse_abc_tunebook`: good tunes by reference number, and tune errors.

    ABC is text; files in the wild are UTF-8 or Latin-1, so Latin-1 is the fallback decoding.
    """
    import_note_seq()
    from note_seq import abc_parser

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    try:
        tunes, exceptions = abc_parser.parse_abc_tunebook(text)
    except Exception as exc:
        raise ReferenceConversionError("abc_parse_error", f"{type(exc).__name__}: {exc}") from exc
    return dict(tunes), [f"{type(e).__name__}: {e}" for e in exceptions]
