"""One input file -> serialized NoteSequences, or a recorded failure; never raises for bad data."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musicgen.corpus.sources import SourceFile, sequence_id

if TYPE_CHECKING:
    from note_seq.protobuf.music_pb2 import NoteSequence

log = logging.getLogger(__name__)

CONVERTED = "converted"
FAILED = "failed"
SKIPPED = "skipped"


@dataclass
class FileOutcome:
    """What happened to one input file; `sequences` holds serialized NoteSequence protos."""

    source: SourceFile
    status: str
    reason: str | None = None
    message: str | None = None
    sequences: list[bytes] = field(default_factory=list)
    notes: int = 0
    fallback: bool = False  # the fast parser declined and note_seq's reference parser was used
    recovered: bool = False  # converted only after a --lenient repair (reason says which)

    def failure_record(self) -> dict[str, Any]:
        """The failures.jsonl row for a failed or skipped file."""
        return {
            "uri": self.source.uri,
            "relpath": self.source.relpath,
            "outcome": self.status,
            "reason": self.reason,
            "message": self.message,
        }


def convert_file(
    source: SourceFile, data: bytes, collection: str, parser: str = "fast", lenient: bool = False
) -> FileOutcome:
    """Converts one file's bytes; every failure becomes a FileOutcome with a reason slug.

    A MIDI file Magenta rejects although players read it fails with a reason that names the
    real cause (see midi_repair); with ``lenient`` it is repaired and converted instead.
    """
    try:
        if source.source_type == "midi":
            outcome = _convert_midi(source, data, collection, parser, lenient)
        elif source.source_type == "musicxml":
            outcome = _convert_musicxml(source, data, collection)
        else:
            outcome = _convert_abc(source, data, collection)
    except Exception as exc:  # noqa: BLE001 - a per-file failure must become data, not end the job
        return FileOutcome(source, FAILED, "unexpected_error", f"{type(exc).__name__}: {exc}")
    return outcome


def finish_sequence(ns: NoteSequence, source: SourceFile, collection: str, key: str) -> bytes:
    """Sets the fields Magenta's convert_dir_to_note_sequences sets, and serializes."""
    ns.filename = source.relpath
    ns.collection_name = collection
    ns.id = sequence_id(source.source_type, collection, key)
    return ns.SerializeToString()


def _convert_midi(
    source: SourceFile, data: bytes, collection: str, parser: str, lenient: bool
) -> FileOutcome:
    from musicgen.corpus import midi_repair, reference

    try:
        ns, fallback = _parse_midi(source, data, parser)
    except reference.ReferenceConversionError as exc:
        declined = parser == "fast"  # the reference ran, so the fast parser had declined
        repair = midi_repair.diagnose(data)
        if repair is None:
            return FileOutcome(source, FAILED, exc.reason, exc.message, fallback=declined)
        if not lenient:
            message = f"{repair.message} (mido: {exc.message}); --lenient converts it"
            return FileOutcome(source, FAILED, repair.reason, message, fallback=declined)
        try:
            ns, _ = _parse_midi(source, repair.data, parser)
        except reference.ReferenceConversionError as again:
            message = f"{repair.message}; after repair: {again.message}"
            return FileOutcome(source, FAILED, again.reason, message, fallback=declined)
        return FileOutcome(
            source,
            CONVERTED,
            repair.reason,
            f"recovered (--lenient): {repair.message}",
            sequences=[finish_sequence(ns, source, collection, source.relpath)],
            notes=len(ns.notes),
            fallback=declined,
            recovered=True,
        )
    return FileOutcome(
        source,
        CONVERTED,
        sequences=[finish_sequence(ns, source, collection, source.relpath)],
        notes=len(ns.notes),
        fallback=fallback,
    )


def _parse_midi(source: SourceFile, data: bytes, parser: str) -> tuple[NoteSequence, bool]:
    """The file's NoteSequence and whether the fast parser declined it; raises note_seq's
    verdict (ReferenceConversionError) when the reference rejects it."""
    from musicgen.corpus import reference

    fallback = False
    ns = None
    if parser == "fast":
        try:
            from musicgen.corpus import midi_fast  # numba: compiled on first use, cached on disk

            ns = midi_fast.midi_to_note_sequence(data)
        except Exception as exc:  # a fast-path problem must never lose the file
            if type(exc).__name__ != "MidiParseError":
                log.warning("fast parser failed on %s; using note_seq", source.uri, exc_info=True)
            fallback = True  # the reference decides: same verdict and message as Magenta
    if ns is None:
        ns = reference.midi_to_note_sequence(data)
    return ns, fallback


def _convert_musicxml(source: SourceFile, data: bytes, collection: str) -> FileOutcome:
    from musicgen.corpus import reference

    suffix = Path(source.relpath).suffix.lower()
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:  # note_seq reads MusicXML by path
        tmp.write(data)
        tmp.flush()
        try:
            ns = reference.musicxml_to_note_sequence(tmp.name)
        except reference.ReferenceConversionError as exc:
            return FileOutcome(source, FAILED, exc.reason, exc.message)
    return FileOutcome(
        source,
        CONVERTED,
        sequences=[finish_sequence(ns, source, collection, source.relpath)],
        notes=len(ns.notes),
    )


def _convert_abc(source: SourceFile, data: bytes, collection: str) -> FileOutcome:
    from musicgen.corpus import reference

    try:
        tunes, errors = reference.abc_to_note_sequences(data)
    except reference.ReferenceConversionError as exc:
        return FileOutcome(source, FAILED, exc.reason, exc.message)
    if not tunes:
        return FileOutcome(
            source, FAILED, "abc_no_tunes", "; ".join(errors) or "no tunes in the tunebook"
        )
    sequences = [
        finish_sequence(ns, source, collection, f"{source.relpath}_{index}")
        for index, ns in tunes.items()
    ]
    # Tunes that failed inside an otherwise good tunebook: converted, but recorded.
    return FileOutcome(
        source,
        CONVERTED,
        reason="abc_tune_errors" if errors else None,
        message="; ".join(errors) if errors else None,
        sequences=sequences,
        notes=sum(len(ns.notes) for ns in tunes.values()),
    )
