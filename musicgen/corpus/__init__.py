"""Corpus conversion: discover files, give them stable ids, turn them into NoteSequences on Ray."""
