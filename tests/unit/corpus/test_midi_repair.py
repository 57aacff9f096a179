"""MIDI that Magenta rejects but players read: the reason names the cause; --lenient recovers it."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from musicgen.corpus import midi_repair, reference
from musicgen.corpus.convert import CONVERTED, FAILED, convert_file
from musicgen.corpus.sources import SourceFile
from musicgen.corpus.stats import ConversionStats

RUNNING_STATUS_SYSEX = "jazzsoft__test-running-status-sysex.mid"
UNKNOWN_CHUNK = "jazzsoft__test-non-midi-track.mid"
C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]  # "You must hear a C-Major scale" (the file's text)
HEADER = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 96)
EOT = b"\x00\xff\x2f\x00"


def smf(*chunks: bytes) -> bytes:
    return HEADER + b"".join(chunks)


def track(body: bytes) -> bytes:
    return b"MTrk" + struct.pack(">I", len(body)) + body


def source(name: str) -> SourceFile:
    return SourceFile(f"/corpus/{name}", name, 0, "midi")


def pitches(data: bytes) -> list[int]:
    return [n.pitch for n in reference.midi_to_note_sequence(data).notes]


def test_running_status_after_sysex_is_named_and_repaired_by_one_byte(
    edge_cases_dir: Path,
) -> None:
    data = (edge_cases_dir / RUNNING_STATUS_SYSEX).read_bytes()
    with pytest.raises(reference.ReferenceConversionError, match="EOFError"):
        reference.midi_to_note_sequence(data)  # Magenta's verdict, with no word of the cause
    repair = midi_repair.diagnose(data)
    assert repair is not None
    assert repair.reason == midi_repair.RUNNING_STATUS_ACROSS_SYSEX
    assert "0x43 at offset 225" in repair.message
    assert "0x90" in repair.message
    assert data[225] == 0x43
    assert data[217] == 0xF0
    # The repair writes out the one status byte and grows the track's length by one.
    assert repair.data == data[:18] + struct.pack(">I", 231) + data[22:225] + b"\x90" + data[225:]
    assert pitches(repair.data) == C_MAJOR


def test_unknown_chunk_is_named_and_dropped(edge_cases_dir: Path) -> None:
    data = (edge_cases_dir / UNKNOWN_CHUNK).read_bytes()
    repair = midi_repair.diagnose(data)
    assert repair is not None
    assert repair.reason == midi_repair.UNKNOWN_CHUNK
    assert "'Junk' chunk of 27 bytes at offset 14" in repair.message
    assert repair.data == data[:14] + data[14 + 8 + 27 :]
    assert pitches(repair.data) == C_MAJOR


def test_meta_between_sysex_and_data_does_not_hide_the_cause() -> None:
    body = b"\x00\x90\x3c\x40" + b"\x00\xf0\x02\x7e\xf7" + b"\x00\xff\x01\x01A" + b"\x10\x3c\x00"
    repair = midi_repair.diagnose(smf(track(body + EOT)))
    assert repair is not None
    assert repair.reason == midi_repair.RUNNING_STATUS_ACROSS_SYSEX
    assert pitches(repair.data) == [60]


@pytest.mark.parametrize(
    "data",
    [
        smf(track(b"\x00\x90\x3c\x40\x10\x3c\x00" + EOT)),  # plain running status: fine already
        smf(track(b"\x00\xf0\x02\x7e\xf7\x00\x3c\x40" + EOT)),  # no channel status to resume
        smf(track(b"\x00\x90\x3c\x40\x00\xf0\x02\x7e\xf7\x00\x3c")),  # truncated after the SysEx
        smf(track(b"\x00\x90\x3c\x40" + EOT))[:-3],  # a truncated track
        b"",
        b"RIFF....",
    ],
    ids=["regular", "no-status-to-resume", "truncated-after-sysex", "truncated", "empty", "riff"],
)
def test_nothing_to_repair(data: bytes) -> None:
    assert midi_repair.diagnose(data) is None


def test_every_file_magenta_reads_has_nothing_to_repair(golden_dir: Path) -> None:
    for path in sorted((golden_dir / "midi").glob("*.mid")):
        assert midi_repair.diagnose(path.read_bytes()) is None, path.name


@pytest.mark.parametrize("parser", ["fast", "note_seq"])
@pytest.mark.parametrize("name", [RUNNING_STATUS_SYSEX, UNKNOWN_CHUNK])
def test_default_fails_naming_the_cause_and_lenient_recovers(
    edge_cases_dir: Path, name: str, parser: str
) -> None:
    data = (edge_cases_dir / name).read_bytes()
    strict = convert_file(source(name), data, "c", parser)
    assert strict.status == FAILED
    assert strict.reason in midi_repair.RECOVERABLE
    assert "--lenient" in str(strict.message)
    assert "mido:" in str(strict.message)
    lenient = convert_file(source(name), data, "c", parser, lenient=True)
    assert lenient.status == CONVERTED
    assert lenient.recovered
    assert lenient.notes == 8
    assert lenient.reason == strict.reason
    assert str(lenient.message).startswith("recovered")
    stats = ConversionStats()
    for outcome in (strict, lenient):
        stats.add(outcome)
    assert (stats.inputs, stats.converted, stats.failed, stats.recovered) == (2, 1, 1, 1)
    assert stats.to_dict()["recovered"] == 1


def test_lenient_changes_nothing_where_nothing_is_recoverable(golden_dir: Path) -> None:
    # Magenta's golden files: eight it reads, and one (a control value of 168) it rejects.
    for path in sorted((golden_dir / "midi").glob("*.mid")):
        strict = convert_file(source(path.name), path.read_bytes(), "c")
        lenient = convert_file(source(path.name), path.read_bytes(), "c", lenient=True)
        assert not lenient.recovered, path.name
        assert (lenient.status, lenient.reason, lenient.message, lenient.sequences) == (
            strict.status,
            strict.reason,
            strict.message,
            strict.sequences,
        ), path.name
