"""One URI layer for local paths and gs:// objects: read, write atomically, list, delete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from musicgen.errors import ObjectNotFound, StorageError
from musicgen.storage import gcs, local, tfrecord
from musicgen.storage.gcs import gcs_client
from musicgen.storage.uri import (
    FileInfo,
    UriLike,
    absolute,
    as_str,
    basename,
    is_gcs,
    join,
    relative_to,
)

if TYPE_CHECKING:
    import pyarrow.fs

__all__ = [
    "FileInfo",
    "UriLike",
    "absolute",
    "basename",
    "check_bucket",
    "check_job_paths",
    "delete",
    "exists",
    "gcs_client",
    "is_gcs",
    "join",
    "list_files",
    "makedirs",
    "open_reader",
    "open_writer",
    "pyarrow_filesystem",
    "read_bytes",
    "relative_to",
    "tfrecord",
    "upload_file",
    "write_bytes",
    "write_text",
]


def read_bytes(uri: UriLike) -> bytes:
    """Reads a whole file or object.

    Args:
        uri: A local path or ``gs://bucket/key``.

    Returns:
        Its contents.

    Raises:
        ObjectNotFound: If it does not exist.
        StorageError: On any other failure; names the URI.
    """
    text = as_str(uri)
    return gcs.read_bytes(text) if is_gcs(text) else local.read_bytes(text)


def write_bytes(uri: UriLike, data: bytes) -> None:
    """Writes a whole file or object atomically: readers see old or new content, never partial.

    Local parent folders are created as needed.

    Args:
        uri: A local path or ``gs://bucket/key``.
        data: The new contents.

    Raises:
        StorageError: On failure; names the URI.
    """
    text = as_str(uri)
    if is_gcs(text):
        gcs.write_bytes(text, data)
    else:
        local.write_bytes(text, data)


def write_text(uri: UriLike, text: str) -> None:
    """Writes ``text`` as UTF-8, atomically like :func:`write_bytes`.

    Args:
        uri: A local path or ``gs://bucket/key``.
        text: The new contents.

    Raises:
        StorageError: On failure; names the URI.
    """
    write_bytes(uri, text.encode("utf-8"))


def upload_file(local_path: UriLike, uri: UriLike) -> None:
    """Copies a local file to a local path or gs:// object, atomically.

    Args:
        local_path: The source file (must be local).
        uri: The destination.

    Raises:
        ObjectNotFound: If ``local_path`` does not exist.
        StorageError: If ``local_path`` is a gs:// URI, or on any other failure.
    """
    source, target = as_str(local_path), as_str(uri)
    if is_gcs(source):
        raise StorageError(source, "upload_file needs a local source path")
    if is_gcs(target):
        gcs.upload_file(source, target)
    else:
        local.upload_file(source, target)


@contextlib.contextmanager
def open_reader(uri: UriLike) -> Iterator[IO[bytes]]:
    """Opens a file or object for streaming reads, with memory bounded whatever its size.

    A gs:// object is first downloaded to an anonymous local temp file.

    Args:
        uri: A local path or ``gs://bucket/key``.

    Yields:
        A binary file object positioned at the start.

    Raises:
        ObjectNotFound: If it does not exist.
        StorageError: On any other failure; names the URI.
    """
    text = as_str(uri)
    if not is_gcs(text):
        try:
            f = Path(text).open("rb")  # noqa: SIM115 - closed by the `with` below
        except FileNotFoundError as exc:
            raise ObjectNotFound(text, "no such file") from exc
        except OSError as exc:
            raise StorageError(text, exc.strerror or str(exc)) from exc
        with f:
            yield f
        return
    with tempfile.TemporaryDirectory(prefix="musicgen-read-") as tmp:
        local_path = str(Path(tmp) / "object")
        gcs.download_file(text, local_path)
        with Path(local_path).open("rb") as f:
            yield f


def open_writer(uri: UriLike) -> AbstractContextManager[IO[bytes]]:
    """Opens a binary writer whose output appears atomically when the block exits cleanly.

    If the block raises, nothing is written and no temp file is left behind;
    the block's own exception propagates unchanged.

    Args:
        uri: A local path or ``gs://bucket/key``.

    Returns:
        A context manager yielding a binary file object.
    """
    text = as_str(uri)
    return gcs.open_writer(text) if is_gcs(text) else local.open_writer(text)


def exists(uri: UriLike) -> bool:
    """Tells whether a file/folder or object/non-empty prefix exists.

    Args:
        uri: A local path or gs:// URI.

    Returns:
        True if it exists.

    Raises:
        StorageError: If GCS cannot be asked.
    """
    text = as_str(uri)
    return gcs.exists(text) if is_gcs(text) else local.exists(text)


def delete(uri: UriLike) -> None:
    """Deletes one file or object; a missing one is not an error.

    Args:
        uri: A local path or ``gs://bucket/key``.

    Raises:
        StorageError: On failure (e.g. a local folder); names the URI.
    """
    text = as_str(uri)
    if is_gcs(text):
        gcs.delete(text)
    else:
        local.delete(text)


def list_files(uri: UriLike, *, recursive: bool = True) -> Iterator[FileInfo]:
    """Lists every regular file under a folder or gs:// prefix, sorted by URI.

    ``gs://b/p`` is treated as the folder ``p/`` (never matching ``p2/...``).
    Our own in-progress temp files are skipped.

    Args:
        uri: A local folder or gs:// prefix.
        recursive: Descend into sub-folders (otherwise only direct children).

    Returns:
        An iterator of :class:`FileInfo`.

    Raises:
        ObjectNotFound: If a local folder does not exist.
        BucketNotFound: If the bucket does not exist (raised on iteration; a missing prefix
            simply lists nothing, like an empty folder).
        StorageError: On any other failure (credentials, permissions); names the URI.
    """
    text = as_str(uri)
    if is_gcs(text):
        return gcs.list_files(text, recursive=recursive)
    return local.list_files(text, recursive=recursive)


def makedirs(uri: UriLike) -> None:
    """Creates a local folder and its parents; a no-op for gs:// (GCS has no folders).

    Args:
        uri: A local folder or gs:// URI.

    Raises:
        StorageError: If a local folder cannot be created.
    """
    text = as_str(uri)
    if not is_gcs(text):
        local.makedirs(text)


def pyarrow_filesystem(uri: UriLike) -> tuple[pyarrow.fs.FileSystem, str]:
    """Returns a pyarrow filesystem and path for ``uri``, e.g. for Ray Data.

    Args:
        uri: A local path or gs:// URI.

    Returns:
        ``(LocalFileSystem, absolute path)`` or ``(GcsFileSystem, "bucket/key")``;
        with ``STORAGE_EMULATOR_HOST`` set the GCS filesystem is anonymous plain
        HTTP against the emulator.
    """
    text = as_str(uri)
    if is_gcs(text):
        return gcs.arrow_filesystem(text)
    import pyarrow.fs

    return pyarrow.fs.LocalFileSystem(), os.path.normpath(Path(text).absolute())


def check_job_paths(input_uri: UriLike, output_uri: UriLike, *, what: str) -> None:
    """Refuses, before any work or delete, a job whose output and input overlap or cannot be used.

    An output inside its input is read back as input by the next run (and a clean-up of the
    output would delete input); an input inside its output can be deleted as a stale output.
    The same folder counts as nested. Local paths are compared after resolving links, gs://
    URIs by bucket and key as folders, so ``/a/ex`` and ``/a/ex2`` are disjoint. Then every
    gs:// bucket involved must exist and be listable, so that a typo or missing credentials
    fail here in one line instead of once per Ray task after the work.

    Args:
        input_uri: What the job reads (a folder, prefix or file).
        output_uri: The folder or prefix the job writes.
        what: The job's name, for the message (``convert``, ``examples``, ...).

    Raises:
        ConfigError: If one lies inside the other (names both URIs), or a gs:// URI names
            no bucket.
        BucketNotFound: If a gs:// bucket does not exist (or is not a valid name).
        CredentialsError: If gs:// is involved and there are no usable credentials.
        AccessDenied: If the credentials may not list a bucket involved.
    """
    from musicgen.errors import ConfigError
    from musicgen.storage.uri import is_within, split_gcs

    source, target = as_str(input_uri), as_str(output_uri)
    real_source, real_target = (u if is_gcs(u) else os.path.realpath(u) for u in (source, target))
    for uri in (source, target):
        if is_gcs(uri):
            try:
                split_gcs(uri)
            except ValueError as exc:  # "gs://" or "gs:///key": no bucket named
                raise ConfigError(f"{what}: {exc}") from exc
    if is_within(real_target, real_source):
        raise ConfigError(
            f"{what}: the output {target} is the input {source} or inside it; "
            "pick an output folder outside the input"
        )
    if is_within(real_source, real_target):
        raise ConfigError(
            f"{what}: the input {source} is the output {target} or inside it; "
            "pick an output folder that does not contain the input"
        )
    for uri in dict.fromkeys((source, target)):
        check_bucket(uri)


def check_bucket(uri: UriLike) -> None:
    """For a gs:// URI, fails unless its bucket exists and may be listed; local paths pass.

    Raises:
        BucketNotFound: If the bucket does not exist (or is not a valid name).
        CredentialsError: If there are no usable credentials.
        AccessDenied: If the credentials may not list the bucket.
    """
    text = as_str(uri)
    if is_gcs(text):
        gcs.check_bucket(text)
