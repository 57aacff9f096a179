"""Pure encodings: NoteSequence <-> arrays (performance events, piano rolls, biaxial, chords)."""

from musicgen.corpus.reference import import_note_seq

# Every module here imports note_seq; importing it quietly first keeps pydub's ffmpeg warning
# (audio only, never used) out of every CLI run and Ray worker log.
import_note_seq()
