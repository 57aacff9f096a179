"""gs:// through a real gcp-storage-emulator process: I/O, listings, atomicity, pyarrow."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from musicgen import storage
from musicgen.errors import BucketNotFound, ObjectNotFound, StorageError
from musicgen.storage.tfrecord import read_tfrecord_file, write_tfrecord_file
from tests.fixtures.gcs_emulator import GcsEmulator

pytestmark = pytest.mark.integration

AWKWARD = [
    "ü€ö é.mid",
    "with space.mid",
    "$HOME.mid",
    "it's.mid",
    "a&b;c.mid",
    "#1?.mid",
    "%41+.mid",
]


class Boom(Exception):
    """Raised inside writer blocks to simulate a failing producer."""


def _write_then_fail(uri: str, data: bytes) -> None:
    """Writes through open_writer, then fails before the block ends."""
    with storage.open_writer(uri) as f:
        f.write(data)
        raise Boom


def test_fixture_points_the_client_at_the_emulator(gcs_emulator: GcsEmulator) -> None:
    assert os.environ["STORAGE_EMULATOR_HOST"] == gcs_emulator.endpoint
    assert gcs_emulator.endpoint == f"http://{gcs_emulator.host}"
    assert storage.gcs_client() is storage.gcs_client()
    assert storage.gcs_client().project == "test"


def test_write_read_exists_delete(gcs_bucket: str) -> None:
    uri = storage.join(gcs_bucket, "dir", "x.bin")
    assert not storage.exists(uri)
    storage.write_bytes(uri, b"\x00payload")
    assert storage.exists(uri)
    assert storage.read_bytes(uri) == b"\x00payload"
    storage.write_text(uri, "ü€")
    assert storage.read_bytes(uri) == "ü€".encode()
    storage.delete(uri)
    assert not storage.exists(uri)
    storage.delete(uri)  # missing is fine


def test_exists_treats_prefix_like_a_folder(gcs_bucket: str) -> None:
    storage.write_bytes(f"{gcs_bucket}/runs/a/model.keras", b"m")
    assert storage.exists(gcs_bucket)
    assert storage.exists(f"{gcs_bucket}/runs")
    assert storage.exists(f"{gcs_bucket}/runs/a/")
    assert not storage.exists(f"{gcs_bucket}/run")
    assert not storage.exists("gs://no-such-bucket-musicgen/x")
    assert not storage.exists("gs://no-such-bucket-musicgen")


def test_missing_object_and_bucket_are_object_not_found(gcs_bucket: str) -> None:
    missing = f"{gcs_bucket}/nope.mid"
    with pytest.raises(ObjectNotFound) as info:
        storage.read_bytes(missing)
    assert info.value.uri == missing
    with pytest.raises(ObjectNotFound, match="gs://no-such-bucket-musicgen/x"):
        storage.read_bytes("gs://no-such-bucket-musicgen/x")


def test_listing_a_missing_bucket_is_not_an_empty_folder(gcs_bucket: str) -> None:
    # A missing prefix lists nothing; a missing bucket is a configuration error (exit 2).
    assert list(storage.list_files(f"{gcs_bucket}/missing")) == []
    with pytest.raises(BucketNotFound, match="bucket gs://no-such-bucket-musicgen does not exi"):
        list(storage.list_files("gs://no-such-bucket-musicgen/p"))
    storage.check_job_paths(f"{gcs_bucket}/in", f"{gcs_bucket}/out", what="test")
    with pytest.raises(BucketNotFound) as info:
        storage.check_job_paths(f"{gcs_bucket}/in", "gs://no-such-bucket-musicgen/o", what="t")
    assert info.value.uri == "gs://no-such-bucket-musicgen/o"
    assert info.value.exit_code == 2


def test_bucket_only_uri_is_not_an_object(gcs_bucket: str) -> None:
    with pytest.raises(StorageError, match="bucket, not an object"):
        storage.read_bytes(gcs_bucket)


def test_list_prefix_is_a_folder(gcs_bucket: str) -> None:
    for key in ["p/a.mid", "p/sub/b.mid", "p2/c.mid", "p.mid", "q/d.mid"]:
        storage.write_bytes(f"{gcs_bucket}/{key}", key.encode())
    for base in (f"{gcs_bucket}/p", f"{gcs_bucket}/p/"):
        infos = list(storage.list_files(base))
        assert [i.uri for i in infos] == [f"{gcs_bucket}/p/a.mid", f"{gcs_bucket}/p/sub/b.mid"]
        assert [i.size for i in infos] == [len("p/a.mid"), len("p/sub/b.mid")]
        assert all(isinstance(i, storage.FileInfo) for i in infos)
    assert [storage.relative_to(i.uri, gcs_bucket) for i in storage.list_files(gcs_bucket)] == [
        "p.mid",
        "p/a.mid",
        "p/sub/b.mid",
        "p2/c.mid",
        "q/d.mid",
    ]
    assert list(storage.list_files(f"{gcs_bucket}/missing")) == []


def test_list_nested_and_non_recursive(gcs_bucket: str) -> None:
    keys = ["c/1/2/3/deep.mid", "c/top.mid", "c/1/mid.mid", "c/1/2/two.mid", "c/a-b.mid"]
    for key in keys:
        storage.write_bytes(f"{gcs_bucket}/{key}", b"x")
    # A console-made "folder" placeholder is not a file.
    storage.write_bytes(f"{gcs_bucket}/c/1/", b"")
    everything = [i.uri for i in storage.list_files(f"{gcs_bucket}/c")]
    assert everything == sorted(f"{gcs_bucket}/{k}" for k in keys)
    top = [storage.basename(i.uri) for i in storage.list_files(f"{gcs_bucket}/c", recursive=False)]
    assert top == ["a-b.mid", "top.mid"]


def test_open_writer_is_atomic(gcs_bucket: str) -> None:
    uri = f"{gcs_bucket}/shards/s.tfrecord"
    with pytest.raises(Boom):
        _write_then_fail(uri, b"partial")
    assert not storage.exists(uri)
    assert list(storage.list_files(gcs_bucket)) == []

    storage.write_bytes(uri, b"old")
    with storage.open_writer(uri) as f:
        f.write(b"new ")
        assert storage.read_bytes(uri) == b"old"  # nothing visible until the block ends
        f.write(b"content")
    assert storage.read_bytes(uri) == b"new content"

    with pytest.raises(Boom):
        _write_then_fail(uri, b"doomed")
    assert storage.read_bytes(uri) == b"new content"


@pytest.mark.parametrize("name", AWKWARD)
def test_awkward_object_names(gcs_bucket: str, name: str) -> None:
    uri = storage.join(gcs_bucket, "odd dir ü", name)
    storage.write_bytes(uri, name.encode())
    assert storage.read_bytes(uri) == name.encode()
    assert storage.exists(uri)
    [info] = storage.list_files(f"{gcs_bucket}/odd dir ü")
    assert info.uri == uri
    assert storage.basename(info.uri) == name
    assert storage.relative_to(info.uri, gcs_bucket) == f"odd dir ü/{name}"
    storage.delete(uri)
    assert not storage.exists(uri)


def test_twenty_megabyte_object(gcs_bucket: str, tmp_path: Path) -> None:
    data = os.urandom(20 * 1024 * 1024)
    uri = f"{gcs_bucket}/big/blob.bin"
    storage.write_bytes(uri, data)
    assert hashlib.sha256(storage.read_bytes(uri)).digest() == hashlib.sha256(data).digest()

    local = tmp_path / "big.bin"
    local.write_bytes(data)
    storage.upload_file(local, f"{gcs_bucket}/big/uploaded.bin")
    with storage.open_writer(f"{gcs_bucket}/big/streamed.bin") as f:
        for start in range(0, len(data), 1 << 20):
            f.write(data[start : start + (1 << 20)])
    for name in ("uploaded.bin", "streamed.bin"):
        assert storage.read_bytes(f"{gcs_bucket}/big/{name}") == data
    sizes = {storage.basename(i.uri): i.size for i in storage.list_files(f"{gcs_bucket}/big")}
    assert sizes == {"blob.bin": len(data), "uploaded.bin": len(data), "streamed.bin": len(data)}


def test_upload_file_missing_source(gcs_bucket: str, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound, match=r"nope\.bin"):
        storage.upload_file(tmp_path / "nope.bin", f"{gcs_bucket}/x")
    assert not storage.exists(f"{gcs_bucket}/x")


def test_tfrecord_file_on_gcs(gcs_bucket: str) -> None:
    uri = f"{gcs_bucket}/ns/notesequences-00000-of-00001.tfrecord"
    records = [b"a", b"", os.urandom(5000)]
    assert write_tfrecord_file(uri, records) == 3
    assert list(read_tfrecord_file(uri)) == records


def test_pyarrow_filesystem_reads_what_the_client_wrote(
    gcs_emulator: GcsEmulator, gcs_bucket: str
) -> None:
    import pyarrow.fs

    uri = f"{gcs_bucket}/arrow/it's #1.bin"
    storage.write_bytes(uri, b"arrow bytes")
    storage.write_bytes(f"{gcs_bucket}/arrow/sub/two.bin", b"2")

    fs, path = storage.pyarrow_filesystem(uri)
    assert isinstance(fs, pyarrow.fs.GcsFileSystem)
    assert path == f"{gcs_bucket.removeprefix('gs://')}/arrow/it's #1.bin"
    with fs.open_input_stream(path) as f:
        assert f.read() == b"arrow bytes"

    fs, folder = storage.pyarrow_filesystem(f"{gcs_bucket}/arrow/")
    listed = fs.get_file_info(pyarrow.fs.FileSelector(folder, recursive=True))
    files = sorted(i.path for i in listed if i.type == pyarrow.fs.FileType.File)
    assert files == [f"{folder}/it's #1.bin", f"{folder}/sub/two.bin"]


def test_write_to_missing_bucket_names_uri(gcs_emulator: GcsEmulator) -> None:
    uri = "gs://no-such-bucket-musicgen/out/x.bin"
    with pytest.raises(StorageError, match=re.escape(uri)):
        storage.write_bytes(uri, b"x")
    with pytest.raises(StorageError, match=re.escape(uri)), storage.open_writer(uri) as f:
        f.write(b"x")


def test_scheme_less_emulator_host_works(
    gcs_emulator: GcsEmulator, gcs_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.host)
    storage.write_bytes(f"{gcs_bucket}/x", b"x")
    assert storage.read_bytes(f"{gcs_bucket}/x") == b"x"
    fs, path = storage.pyarrow_filesystem(f"{gcs_bucket}/x")
    with fs.open_input_stream(path) as f:
        assert f.read() == b"x"


def test_open_reader_downloads_an_object_for_streaming(gcs_bucket: str) -> None:
    uri = f"{gcs_bucket}/stream/big.bin"
    payload = os.urandom(3 * 1024 * 1024)
    storage.write_bytes(uri, payload)
    with storage.open_reader(uri) as f:
        assert f.read(10) == payload[:10]
        assert f.read() == payload[10:]
    with pytest.raises(ObjectNotFound), storage.open_reader(f"{gcs_bucket}/stream/missing"):
        pass
