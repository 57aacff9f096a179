"""TFRecord framing: round trips, CRC/truncation errors, and byte-compatibility with TensorFlow."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from musicgen import storage
from musicgen.errors import ObjectNotFound, StorageError
from musicgen.storage.tfrecord import (
    CorruptRecordError,
    encode_record,
    read_records,
    read_tfrecord_file,
    write_records,
    write_tfrecord_file,
)

RECORDS = [b"", b"x", b"hello world", os.urandom(100_000), bytes(range(256)) * 3]


def _framed(records: list[bytes]) -> bytes:
    buf = io.BytesIO()
    assert write_records(buf, records) == len(records)
    return buf.getvalue()


def test_round_trip_bytes_and_stream() -> None:
    data = _framed(RECORDS)
    assert len(data) == sum(len(r) + 16 for r in RECORDS)
    assert list(read_records(data)) == RECORDS
    assert list(read_records(bytearray(data))) == RECORDS
    assert list(read_records(memoryview(data))) == RECORDS
    assert list(read_records(io.BytesIO(data))) == RECORDS


def test_empty_file_has_no_records() -> None:
    assert list(read_records(b"")) == []
    assert list(read_records(io.BytesIO())) == []


def test_known_framing_of_empty_record() -> None:
    # Fixed by the format: length 0, masked crc32c(8 zero bytes), no data, masked crc32c("").
    assert encode_record(b"").hex() == "0000000000000000" + "29039807" + "d8ea82a2"


def test_file_round_trip_through_storage(tmp_path: Path) -> None:
    uri = storage.join(tmp_path, "shards", "s-00000-of-00001.tfrecord")
    assert write_tfrecord_file(uri, iter(RECORDS)) == len(RECORDS)
    assert list(read_tfrecord_file(uri)) == RECORDS
    with storage.open_writer(tmp_path / "b.tfrecord") as f:
        write_records(f, RECORDS[:2])
    with (tmp_path / "b.tfrecord").open("rb") as f:
        assert list(read_records(f)) == RECORDS[:2]


def test_missing_file_is_object_not_found(tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound):
        list(read_tfrecord_file(str(tmp_path / "nope.tfrecord")))


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("flip_at", "what"),
    [
        (3, "length CRC"),  # inside the length
        (9, "length CRC"),  # inside the length's CRC
        (12 + 2, "data CRC"),  # inside the payload
        (12 + 11 + 1, "data CRC"),  # inside the payload's CRC
    ],
)
def test_corrupt_byte_names_offset(flip_at: int, what: str, stream: bool) -> None:
    first = encode_record(b"first")
    data = bytearray(first + encode_record(b"hello world") + encode_record(b"third"))
    data[len(first) + flip_at] ^= 0x01
    source = io.BytesIO(bytes(data)) if stream else bytes(data)
    got: list[bytes] = []
    with pytest.raises(CorruptRecordError, match=f"offset {len(first)}: {what}") as info:
        got.extend(read_records(source, uri="gs://b/x.tfrecord"))
    assert got == [b"first"]  # records before the damage are still delivered
    assert info.value.offset == len(first)
    assert info.value.uri == "gs://b/x.tfrecord"
    assert isinstance(info.value, StorageError)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("cut", [1, 4, 12, 20, 30])
def test_truncated_file(cut: int, stream: bool) -> None:
    first = encode_record(b"first")
    data = first + encode_record(b"a" * 20)
    data = data[: len(first) + cut]
    source = io.BytesIO(data) if stream else data
    with pytest.raises(CorruptRecordError, match="truncated") as info:
        list(read_records(source))
    assert info.value.offset == len(first)


def test_truncated_file_on_disk_names_uri(tmp_path: Path) -> None:
    path = tmp_path / "cut.tfrecord"
    path.write_bytes(encode_record(b"abc")[:-1])
    with pytest.raises(CorruptRecordError, match=r"cut\.tfrecord.*offset 0"):
        list(read_tfrecord_file(str(path)))


def test_golden_magenta_notesequences(golden_dir: Path) -> None:
    from note_seq.protobuf import music_pb2

    records = list(read_tfrecord_file(str(golden_dir / "notesequences.tfrecord")))
    assert len(records) == 8
    for record in records:
        seq = music_pb2.NoteSequence.FromString(record)
        assert seq.id
        assert seq.notes
        assert seq.SerializeToString() == record


def test_tensorflow_reads_ours_and_we_read_tensorflows(tmp_path: Path) -> None:
    import tensorflow as tf

    ours = tmp_path / "ours.tfrecord"
    write_tfrecord_file(str(ours), RECORDS)
    assert [t.numpy() for t in tf.data.TFRecordDataset(str(ours))] == RECORDS

    theirs = tmp_path / "theirs.tfrecord"
    with tf.io.TFRecordWriter(str(theirs)) as writer:
        for record in RECORDS:
            writer.write(record)
    assert list(read_tfrecord_file(str(theirs))) == RECORDS
    assert theirs.read_bytes() == ours.read_bytes()


def test_lenient_reader_skips_a_bad_payload_and_reports_it() -> None:
    from musicgen.storage.tfrecord import read_records_lenient

    records = [b"first", b"second record", b"third"]
    data = bytearray(_framed(records))
    data[12 + 2] ^= 0xFF  # a payload byte of the first record: its data CRC fails
    items = list(read_records_lenient(io.BytesIO(bytes(data)), uri="mem://x"))
    assert isinstance(items[0], CorruptRecordError)
    assert items[0].offset == 0
    assert "data CRC" in str(items[0])
    assert "mem://x" in str(items[0])
    assert items[1:] == records[1:]


@pytest.mark.parametrize("cut", ["length", "truncate"])
def test_lenient_reader_stops_where_no_position_can_be_trusted(cut: str) -> None:
    from musicgen.storage.tfrecord import read_records_lenient

    data = bytearray(_framed([b"good", b"damaged", b"lost"]))
    second = len(b"good") + 16
    if cut == "length":
        data[second] ^= 0x01  # its length no longer matches the length CRC
    else:
        data = data[: second + 20]
    items = list(read_records_lenient(io.BytesIO(bytes(data))))
    assert items[0] == b"good"
    assert len(items) == 2
    assert isinstance(items[1], CorruptRecordError)
    assert items[1].offset == second


def test_open_reader_streams_local_files_and_names_missing_ones(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"abc" * 1000)
    with storage.open_reader(str(path)) as f:
        assert f.read(3) == b"abc"
    with (
        pytest.raises(ObjectNotFound, match=r"nope\.bin"),
        storage.open_reader(str(tmp_path / "nope.bin")),
    ):
        pass
