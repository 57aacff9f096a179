"""Finds the convertible files of a corpus and gives each a stable, Magenta-compatible id."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from musicgen import storage

# Case-insensitive, as in Magenta's convert_dir_to_note_sequences.
SOURCE_TYPES: dict[str, str] = {
    ".mid": "midi",
    ".midi": "midi",
    ".xml": "musicxml",
    ".mxl": "musicxml",
    ".musicxml": "musicxml",
    ".abc": "abc",
}
# For help and error texts: the same list, so that they never fall out of step.
ACCEPTED = "/".join(SOURCE_TYPES)


@dataclass(frozen=True)
class SourceFile:
    """One input file: where it is, its path relative to the corpus root, and how to read it."""

    uri: str
    relpath: str
    size: int
    source_type: str


@dataclass
class Discovery:
    """The result of walking a corpus: convertible files in a stable order, and what was ignored."""

    files: list[SourceFile]
    ignored: Counter[str] = field(default_factory=Counter)  # extension -> count


def source_type_of(name: str) -> str | None:
    """Returns "midi", "musicxml" or "abc" for a file name, or None if we have no reader."""
    dot = name.rfind(".")
    if dot <= 0 or "/" in name[dot:]:
        return None
    return SOURCE_TYPES.get(name[dot:].lower())


def discover(root: str) -> Discovery:
    """Lists every convertible file under `root` (folder or gs:// prefix), recursively, sorted.

    Sorting by relative path makes shard assignment deterministic, so a re-run rewrites the same
    shards (Magenta walks in os.listdir order, which differs between machines).
    """
    files: list[SourceFile] = []
    ignored: Counter[str] = Counter()
    for info in storage.list_files(root, recursive=True):
        relpath = storage.relative_to(info.uri, root)
        kind = source_type_of(relpath)
        if kind is None:
            name = storage.basename(relpath)
            ext = name[name.rfind(".") :].lower() if "." in name[1:] else "(none)"
            ignored[ext] += 1
            continue
        files.append(SourceFile(info.uri, relpath, info.size, kind))
    files.sort(key=lambda f: f.relpath)
    return Discovery(files, ignored)


def default_collection(root: str) -> str:
    """Magenta's collection name: the base name of the input folder (trailing slash ignored)."""
    return storage.basename(root.rstrip("/")) if root.rstrip("/") else ""


def sequence_id(source_type: str, collection: str, filename: str) -> str:
    """Magenta's NoteSequence id: `/id/<type>/<collection>/<sha1 of the relative path>`."""
    digest = hashlib.sha1(filename.encode("utf-8")).hexdigest()  # noqa: S324 - an id, not security
    return f"/id/{source_type.lower()}/{collection}/{digest}"
