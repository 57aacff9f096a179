"""Local backend: atomic writes, reads, listings and errors that name the path."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from musicgen import storage
from musicgen.errors import ObjectNotFound, StorageError
from musicgen.storage.uri import TEMP_MARKER


class Boom(Exception):
    """Raised inside writer blocks to simulate a failing producer."""


def _write_then_fail(uri: Path, data: bytes) -> None:
    """Writes through open_writer, then fails before the block ends."""
    with storage.open_writer(uri) as f:
        f.write(data)
        raise Boom


def _all_names(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_write_read_round_trip_creates_parents(tmp_path: Path) -> None:
    target = storage.join(tmp_path, "a", "b", "x.bin")
    storage.write_bytes(target, b"\x00\x01data")
    assert storage.read_bytes(target) == b"\x00\x01data"
    assert Path(target).read_bytes() == b"\x00\x01data"
    assert _all_names(tmp_path) == ["a", "a/b", "a/b/x.bin"]


def test_write_text_is_utf8(tmp_path: Path) -> None:
    target = tmp_path / "t.json"
    storage.write_text(target, '{"name": "ü€"}')
    assert target.read_bytes() == '{"name": "ü€"}'.encode()


def test_write_replaces_existing_content(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    storage.write_bytes(target, b"old" * 1000)
    storage.write_bytes(target, b"new")
    assert storage.read_bytes(target) == b"new"
    assert _all_names(tmp_path) == ["x.bin"]


def test_written_file_gets_umask_permissions_not_0600(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    storage.write_bytes(target, b"x")
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"x")
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_open_writer_exception_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "x.bin"
    with pytest.raises(Boom):
        _write_then_fail(target, b"partial")
    assert not target.exists()
    assert [p.name for p in (tmp_path / "sub").iterdir()] == []


def test_open_writer_exception_keeps_old_content(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    storage.write_bytes(target, b"old")
    with pytest.raises(Boom):
        _write_then_fail(target, b"new but unfinished")
    assert target.read_bytes() == b"old"
    assert _all_names(tmp_path) == ["x.bin"]


def test_open_writer_content_appears_only_on_exit(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    storage.write_bytes(target, b"old")
    with storage.open_writer(target) as f:
        f.write(b"new")
        f.flush()
        # Readers still see the old content while the block runs.
        assert target.read_bytes() == b"old"
        temps = [p.name for p in tmp_path.iterdir() if TEMP_MARKER in p.name]
        assert len(temps) == 1
        assert [i.uri for i in storage.list_files(tmp_path)] == [str(target)]
    assert target.read_bytes() == b"new"
    assert _all_names(tmp_path) == ["x.bin"]


def test_upload_file_local_to_local(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3_000_000))
    dst = storage.join(tmp_path, "out", "dst.bin")
    storage.upload_file(src, dst)
    assert Path(dst).read_bytes() == src.read_bytes()
    assert _all_names(tmp_path / "out") == ["dst.bin"]


def test_upload_file_missing_source_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.bin"
    with pytest.raises(ObjectNotFound, match=r"missing\.bin") as info:
        storage.upload_file(missing, tmp_path / "dst.bin")
    assert info.value.uri == str(missing)
    assert _all_names(tmp_path) == []


def test_upload_file_rejects_gcs_source(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="local source"):
        storage.upload_file("gs://b/x", tmp_path / "x")


def test_read_missing_raises_object_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mid"
    with pytest.raises(ObjectNotFound) as info:
        storage.read_bytes(missing)
    assert info.value.uri == str(missing)
    assert str(missing) in str(info.value)


def test_read_directory_is_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=re.escape(str(tmp_path))) as info:
        storage.read_bytes(tmp_path)
    assert not isinstance(info.value, ObjectNotFound)


def test_write_under_a_file_is_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(StorageError, match=r"file/x\.bin"):
        storage.write_bytes(tmp_path / "file" / "x.bin", b"y")


def test_exists_and_delete(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    assert not storage.exists(target)
    storage.write_bytes(target, b"x")
    assert storage.exists(target)
    assert storage.exists(tmp_path)
    storage.delete(target)
    assert not storage.exists(target)
    storage.delete(target)  # missing is fine


def test_delete_folder_is_storage_error(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(StorageError, match="d"):
        storage.delete(tmp_path / "d")


def test_makedirs(tmp_path: Path) -> None:
    folder = storage.join(tmp_path, "a", "b")
    storage.makedirs(folder)
    storage.makedirs(folder)
    assert Path(folder).is_dir()
    storage.makedirs("gs://bucket/never/created")  # no-op, no network


def _make_tree(root: Path) -> None:
    for rel, data in {
        "b.mid": b"bb",
        "a/z.mid": b"z",
        "a/y/x.mid": b"xxx",
        "a-c.mid": b"1",
        "ü €/$it's;#?.mid": b"odd",
        ".hidden": b"h",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "empty").mkdir()


def test_list_files_recursive_sorted_with_sizes(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    # A crashed writer's temp file must not show up as data.
    (tmp_path / "a" / f".z.mid{TEMP_MARKER}{'0' * 32}").write_bytes(b"partial")
    infos = list(storage.list_files(tmp_path))
    rel = [storage.relative_to(i.uri, tmp_path) for i in infos]
    assert rel == sorted(rel)
    assert [i.uri for i in infos] == sorted(i.uri for i in infos)
    assert rel == [".hidden", "a-c.mid", "a/y/x.mid", "a/z.mid", "b.mid", "ü €/$it's;#?.mid"]
    assert dict(zip(rel, (i.size for i in infos), strict=True))["a/y/x.mid"] == 3
    assert infos[0] == storage.FileInfo(str(tmp_path / ".hidden"), 1)


def test_list_files_non_recursive(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    names = [storage.basename(i.uri) for i in storage.list_files(tmp_path, recursive=False)]
    assert names == [".hidden", "a-c.mid", "b.mid"]


def test_list_files_keeps_callers_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    uris = [i.uri for i in storage.list_files("a/")]
    assert uris == ["a/y/x.mid", "a/z.mid"]


def test_list_files_follows_file_links_not_folder_links(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    (tmp_path / "link.mid").symlink_to(tmp_path / "b.mid")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "dangling.mid").symlink_to(tmp_path / "gone.mid")
    names = [storage.relative_to(i.uri, tmp_path) for i in storage.list_files(tmp_path)]
    assert "link.mid" in names
    assert not any(n.startswith("loop") for n in names)
    assert "dangling.mid" not in names


def test_list_files_missing_folder_names_path(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    with pytest.raises(ObjectNotFound, match="no/such") as info:
        storage.list_files(missing)
    assert info.value.uri == str(missing)


def test_list_files_on_a_file_is_storage_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(StorageError, match="not a folder"):
        storage.list_files(tmp_path / "f")


def test_pyarrow_filesystem_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.fs

    storage.write_bytes(tmp_path / "x.bin", b"abc")
    monkeypatch.chdir(tmp_path)
    fs, path = storage.pyarrow_filesystem("x.bin")
    assert isinstance(fs, pyarrow.fs.LocalFileSystem)
    assert path == str(tmp_path / "x.bin")
    with fs.open_input_stream(path) as f:
        assert f.read() == b"abc"
