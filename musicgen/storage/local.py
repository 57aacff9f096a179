"""Local-filesystem backend: atomic writes (temp file + fsync + os.replace), reads, listings."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NoReturn

from musicgen.errors import ObjectNotFound, StorageError
from musicgen.storage.uri import FileInfo, is_temp_name, join, temp_name

_COPY_CHUNK = 1 << 20


def _raise(path: str, exc: OSError) -> NoReturn:
    """Re-raises an OSError as our error type, naming ``path``."""
    if isinstance(exc, FileNotFoundError):
        raise ObjectNotFound(path, "no such file or directory") from exc
    raise StorageError(path, exc.strerror or str(exc)) from exc


def _fsync_dir(directory: Path) -> None:
    # The rename itself is only durable once the directory entry is flushed;
    # some filesystems refuse to open or fsync a directory, which is harmless.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_bytes(path: str) -> bytes:
    """Reads a whole local file.

    Args:
        path: The file.

    Returns:
        Its contents.

    Raises:
        ObjectNotFound: If it does not exist.
        StorageError: On any other OS error (e.g. it is a directory).
    """
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        _raise(path, exc)


@contextlib.contextmanager
def open_writer(path: str) -> Iterator[IO[bytes]]:
    """Opens a temp file beside ``path`` that replaces ``path`` only on success.

    Parent folders are created as needed, so local paths behave like gs:// keys.

    Args:
        path: The final file.

    Yields:
        A binary file object to write to.

    Raises:
        StorageError: If the file cannot be created, written or renamed.
    """
    target = Path(path).absolute()
    directory = target.parent
    tmp = directory / temp_name(target.name, uuid.uuid4().hex)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # os.open with 0o666 lets the umask decide permissions like a plain open()
        # would; tempfile.mkstemp would leave the final file at 0600.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        _raise(path, exc)
    committed = False
    try:
        with os.fdopen(fd, "wb") as f:
            # Exceptions raised by the caller's block propagate unchanged (they are
            # not ours to rename); only our own flush/rename failures are wrapped.
            yield f
            try:
                f.flush()
                os.fsync(f.fileno())
            except OSError as exc:
                _raise(path, exc)
        try:
            tmp.replace(target)
        except OSError as exc:
            _raise(path, exc)
        committed = True
    finally:
        if not committed:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    _fsync_dir(directory)


def write_bytes(path: str, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically (readers see old or new content, never partial).

    Args:
        path: The final file; parent folders are created.
        data: The new contents.

    Raises:
        StorageError: On an OS error.
    """
    with open_writer(path) as f:
        try:
            f.write(data)
        except OSError as exc:
            _raise(path, exc)


def upload_file(source: str, path: str) -> None:
    """Copies a local file to ``path`` atomically.

    Args:
        source: The file to copy.
        path: The destination; parent folders are created.

    Raises:
        ObjectNotFound: If ``source`` does not exist.
        StorageError: On any other OS error.
    """
    try:
        # Opened before the writer so a missing source fails without a temp file.
        src = Path(source).open("rb")  # noqa: SIM115 - closed by the `with` below
    except OSError as exc:
        _raise(source, exc)
    with src, open_writer(path) as dst:
        try:
            shutil.copyfileobj(src, dst, _COPY_CHUNK)
        except OSError as exc:
            _raise(path, exc)


def exists(path: str) -> bool:
    """Tells whether a local file or folder exists.

    Args:
        path: A local path.

    Returns:
        True if something is there.
    """
    return Path(path).exists()


def delete(path: str) -> None:
    """Deletes one local file; a missing file is not an error.

    Args:
        path: The file.

    Raises:
        StorageError: If it is a folder or cannot be removed.
    """
    try:
        Path(path).unlink(missing_ok=True)
    except OSError as exc:
        _raise(path, exc)


def makedirs(path: str) -> None:
    """Creates a local folder and its parents; an existing folder is fine.

    Args:
        path: The folder.

    Raises:
        StorageError: If it cannot be created (e.g. a file is in the way).
    """
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _raise(path, exc)


def list_files(folder: str, *, recursive: bool = True) -> Iterator[FileInfo]:
    """Lists regular files under a local folder, sorted by URI.

    Symlinks to files are followed; symlinked folders are not descended into
    (a link cycle would never end). Our own in-progress temp files are skipped.

    Args:
        folder: The folder to list.
        recursive: Descend into sub-folders (otherwise only direct children).

    Returns:
        An iterator of :class:`FileInfo`, whose ``uri`` is ``join(folder, relative path)``.

    Raises:
        ObjectNotFound: If ``folder`` does not exist.
        StorageError: If it is not a folder or cannot be read.
    """
    root = Path(folder)
    if not root.is_dir():
        if not root.exists():
            raise ObjectNotFound(folder, "no such folder")
        raise StorageError(folder, "not a folder")
    found: list[FileInfo] = []
    try:
        _scan(folder, "", recursive, found)
    except OSError as exc:
        _raise(os.fsdecode(exc.filename) if exc.filename else folder, exc)
    found.sort()
    return iter(found)


def _scan(folder: str, rel: str, recursive: bool, found: list[FileInfo]) -> None:
    # os.scandir gives type and size from one syscall per entry, which matters
    # for corpora of hundreds of thousands of files.
    with os.scandir(Path(folder, rel) if rel else folder) as entries:
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    _scan(folder, child, recursive, found)
            elif entry.is_file() and not is_temp_name(entry.name):
                found.append(FileInfo(join(folder, child), entry.stat().st_size))
