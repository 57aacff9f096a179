"""Pure encodings: NoteSequence <-> arrays (performance events, piano rolls, biaxial, chords)."""
