"""TFRecord framing (length, masked CRC32C, data, masked CRC32C) without TensorFlow."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import IO

import google_crc32c

from musicgen.errors import StorageError

_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_HEADER_SIZE = _LENGTH.size + _CRC.size
_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF


class CorruptRecordError(StorageError):
    """A TFRecord file is truncated or fails a CRC check; ``offset`` is the record's start."""

    def __init__(self, uri: str, offset: int, message: str) -> None:
        super().__init__(uri, f"corrupt TFRecord at byte offset {offset}: {message}")
        self.offset = offset
        self.detail = message

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.uri, self.offset, self.detail))


def masked_crc(data: bytes | memoryview) -> int:
    """Returns TFRecord's masked CRC32C of ``data``.

    TensorFlow rotates and offsets the CRC so that a CRC computed over data that
    itself contains CRCs does not degenerate (see tensorflow/core/lib/hash/crc32c.h).

    Args:
        data: The bytes to checksum.

    Returns:
        The masked CRC as an unsigned 32-bit integer.
    """
    crc = google_crc32c.value(bytes(data))
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32


def encode_record(record: bytes) -> bytes:
    """Frames one record the way ``tf.io.TFRecordWriter`` does (no compression).

    Args:
        record: The payload, e.g. a serialized proto.

    Returns:
        Header, payload and footer, ready to append to a file.
    """
    length = _LENGTH.pack(len(record))
    return b"".join((length, _CRC.pack(masked_crc(length)), record, _CRC.pack(masked_crc(record))))


def write_records(fileobj: IO[bytes], records: Iterable[bytes]) -> int:
    """Writes records to a binary file object in TFRecord format.

    Args:
        fileobj: Destination, opened for binary writing (e.g. from ``storage.open_writer``).
        records: Payloads to frame and write, in order.

    Returns:
        The number of records written.
    """
    count = 0
    for record in records:
        fileobj.write(encode_record(record))
        count += 1
    return count


def read_records(
    data_or_fileobj: bytes | bytearray | memoryview | IO[bytes], *, uri: str = "<stream>"
) -> Iterator[bytes]:
    """Yields the payloads of a TFRecord file, verifying both CRCs of every record.

    Args:
        data_or_fileobj: The whole file as a bytes-like object, or a binary file object
            to stream from.
        uri: Named in errors; pass the file's URI when known.

    Yields:
        Each record's payload.

    Raises:
        CorruptRecordError: On a CRC mismatch or a truncated record, naming its offset.
    """
    if isinstance(data_or_fileobj, bytes | bytearray | memoryview):
        return _read_buffer(memoryview(data_or_fileobj).cast("B"), uri)
    return _read_stream(data_or_fileobj, uri)


def _check_header(header: bytes | memoryview, offset: int, uri: str) -> int:
    length_bytes = header[: _LENGTH.size]
    (length_crc,) = _CRC.unpack(header[_LENGTH.size :])
    if masked_crc(length_bytes) != length_crc:
        raise CorruptRecordError(uri, offset, "length CRC mismatch")
    (length,) = _LENGTH.unpack(length_bytes)
    return int(length)


def _check_payload(payload: bytes, footer: bytes | memoryview, offset: int, uri: str) -> None:
    (data_crc,) = _CRC.unpack(footer)
    if masked_crc(payload) != data_crc:
        raise CorruptRecordError(uri, offset, "data CRC mismatch")


def _read_buffer(buf: memoryview, uri: str) -> Iterator[bytes]:
    offset, end = 0, len(buf)
    while offset < end:
        if end - offset < _HEADER_SIZE:
            raise CorruptRecordError(uri, offset, "truncated record header")
        length = _check_header(buf[offset : offset + _HEADER_SIZE], offset, uri)
        start = offset + _HEADER_SIZE
        stop = start + length
        if stop + _CRC.size > end:
            raise CorruptRecordError(uri, offset, f"truncated record (length {length})")
        payload = bytes(buf[start:stop])
        _check_payload(payload, buf[stop : stop + _CRC.size], offset, uri)
        yield payload
        offset = stop + _CRC.size


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    # A raw file object may return short reads; keep reading until EOF.
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_stream(stream: IO[bytes], uri: str) -> Iterator[bytes]:
    offset = 0
    while True:
        header = _read_exact(stream, _HEADER_SIZE)
        if not header:
            return
        if len(header) < _HEADER_SIZE:
            raise CorruptRecordError(uri, offset, "truncated record header")
        length = _check_header(header, offset, uri)
        # Reading the payload in one go is safe: the length passed its CRC.
        body = _read_exact(stream, length + _CRC.size)
        if len(body) < length + _CRC.size:
            raise CorruptRecordError(uri, offset, f"truncated record (length {length})")
        payload = body[:length]
        _check_payload(payload, body[length:], offset, uri)
        yield payload
        offset += _HEADER_SIZE + len(body)


def read_records_lenient(
    stream: IO[bytes], *, uri: str = "<stream>"
) -> Iterator[bytes | CorruptRecordError]:
    """Streams records, reporting damage as data instead of stopping at the first bad record.

    A record whose payload fails its CRC is yielded as its :class:`CorruptRecordError` and
    skipped: its length passed its own CRC, so the next record's position is known. A bad
    length or a truncation leaves no trustworthy position, so its error is yielded last.

    Args:
        stream: A binary file object.
        uri: Named in errors.

    Yields:
        Each good payload, or the error of each bad record.
    """
    offset = 0
    while True:
        header = _read_exact(stream, _HEADER_SIZE)
        if not header:
            return
        try:
            if len(header) < _HEADER_SIZE:
                raise CorruptRecordError(uri, offset, "truncated record header")
            length = _check_header(header, offset, uri)
        except CorruptRecordError as exc:
            yield exc
            return
        body = _read_exact(stream, length + _CRC.size)
        if len(body) < length + _CRC.size:
            yield CorruptRecordError(uri, offset, f"truncated record (length {length})")
            return
        payload = body[:length]
        try:
            _check_payload(payload, body[length:], offset, uri)
        except CorruptRecordError as exc:
            yield exc
        else:
            yield payload
        offset += _HEADER_SIZE + len(body)


def read_tfrecord_file(uri: str) -> Iterator[bytes]:
    """Reads a whole TFRecord file (local or gs://) and yields its records.

    Args:
        uri: The file.

    Yields:
        Each record's payload.

    Raises:
        ObjectNotFound: If the file does not exist.
        CorruptRecordError: On a CRC mismatch or truncation.
    """
    # Imported here: the package __init__ imports this module.
    from musicgen.storage import read_bytes

    yield from read_records(read_bytes(uri), uri=uri)


def write_tfrecord_file(uri: str, records: Iterable[bytes]) -> int:
    """Writes records to a TFRecord file (local or gs://) atomically.

    Args:
        uri: The file to create or replace.
        records: Payloads, in order.

    Returns:
        The number of records written.
    """
    # Imported here: the package __init__ imports this module.
    from musicgen.storage import open_writer

    with open_writer(uri) as f:
        return write_records(f, records)
