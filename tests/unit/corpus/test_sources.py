"""Discovery of input files and Magenta-compatible ids."""

from pathlib import Path

import pytest

from musicgen.corpus.sources import default_collection, discover, sequence_id, source_type_of
from musicgen.storage import tfrecord


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.mid", "midi"),
        ("A.MID", "midi"),
        ("x/y.Midi", "midi"),
        ("s.xml", "musicxml"),
        ("s.MXL", "musicxml"),
        ("t.abc", "abc"),
        ("readme.txt", None),
        ("mid", None),
        (".mid", None),
        ("dir.mid/file", None),
    ],
)
def test_source_type_of(name: str, kind: str | None) -> None:
    assert source_type_of(name) == kind


def test_ids_match_magentas_golden_notesequences(golden_dir: Path) -> None:
    from note_seq.protobuf import music_pb2

    records = list(tfrecord.read_tfrecord_file(str(golden_dir / "notesequences.tfrecord")))
    assert len(records) == 8
    for record in records:
        ns = music_pb2.NoteSequence.FromString(record)
        assert ns.id == sequence_id("midi", ns.collection_name, ns.filename)


@pytest.mark.parametrize(
    ("root", "name"),
    [("/a/b/midi", "midi"), ("/a/b/midi/", "midi"), ("gs://bkt/corpora/pop", "pop")],
)
def test_default_collection(root: str, name: str) -> None:
    assert default_collection(root) == name


AWKWARD = [
    "plain.mid",
    "UPPER.MID",
    "spaced name.midi",
    "ünïcödé 曲.mid",
    "shell $x `y` 'q' \"dq\" & ; | #.mid",
    "nested/deeper/still/n.MiDi",
    "score.musicxml",
    "notes.txt",
    "no_extension",
]


def test_discover_is_recursive_sorted_and_counts_ignored(tmp_path: Path) -> None:
    for name in AWKWARD:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    found = discover(str(tmp_path))
    relpaths = [f.relpath for f in found.files]
    assert relpaths == sorted(relpaths)
    assert set(relpaths) == set(AWKWARD) - {"notes.txt", "no_extension"}
    assert dict(found.ignored) == {".txt": 1, "(none)": 1}
    assert all(f.size == 1 for f in found.files)


@pytest.mark.parametrize(
    ("files", "size"), [(1, 8), (24, 8), (200, 13), (809, 51), (4096, 256), (10**6, 256)]
)
def test_auto_shard_size_depends_on_corpus_size_only(files: int, size: int) -> None:
    from musicgen.corpus.pipeline import auto_shard_size

    assert auto_shard_size(files) == size
