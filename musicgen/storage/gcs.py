"""GCS backend over google-cloud-storage (imported lazily); failures become StorageError."""

from __future__ import annotations

import contextlib
import mimetypes
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from musicgen.errors import (
    AccessDenied,
    BucketNotFound,
    CredentialsError,
    ObjectNotFound,
    StorageError,
)
from musicgen.storage.uri import (
    GCS_SCHEME,
    FileInfo,
    folder_prefix,
    is_temp_name,
    split_gcs,
)

if TYPE_CHECKING:
    import pyarrow.fs

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
EMULATOR_PROJECT = "test"

# What the user can do about missing credentials, on every platform we run on.
CREDENTIALS_HINT = (
    "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a "
    "service-account key file, or on GKE use Workload Identity"
)

# One client per (process, emulator host): google-cloud-storage clients hold a
# requests session that must not be shared across fork, and tests switch hosts.
_clients: dict[tuple[int, str | None], Any] = {}
_lock = threading.Lock()


def _reset_after_fork() -> None:
    global _lock
    # A lock held by another thread at fork time would stay held forever in the child.
    _lock = threading.Lock()
    _clients.clear()


os.register_at_fork(after_in_child=_reset_after_fork)


def emulator_endpoint() -> str | None:
    """Returns the emulator's base URL from ``STORAGE_EMULATOR_HOST``, if set.

    Returns:
        ``scheme://host:port`` (``http`` when the variable has no scheme), or None.
    """
    host = os.environ.get(EMULATOR_ENV, "").strip().rstrip("/")
    if not host:
        return None
    return host if "://" in host else f"http://{host}"


def gcs_client(uri: str = GCS_SCHEME) -> Any:
    """Returns the process's ``google.cloud.storage.Client``, creating it on first use.

    With ``STORAGE_EMULATOR_HOST`` set the client talks to the emulator with
    anonymous credentials and project ``test``; otherwise it uses Application
    Default Credentials.

    Args:
        uri: The URI the client is wanted for, named by the error if none can be made.

    Returns:
        A cached ``google.cloud.storage.Client``.

    Raises:
        CredentialsError: If no credentials can be found (says how to provide them).
    """
    endpoint = emulator_endpoint()
    key = (os.getpid(), endpoint)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _new_client(endpoint, uri)
            _clients[key] = client
        return client


def _new_client(endpoint: str | None, uri: str) -> Any:
    from google.auth import exceptions as auth_exceptions
    from google.cloud import storage

    if endpoint is not None:
        from google.auth.credentials import AnonymousCredentials

        # The endpoint is passed explicitly because the client uses the variable
        # verbatim and would build scheme-less URLs from "127.0.0.1:N".
        return storage.Client(
            project=EMULATOR_PROJECT,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
    try:
        return storage.Client()
    except (auth_exceptions.GoogleAuthError, OSError) as exc:
        raise CredentialsError(
            uri, f"no usable Google credentials ({_one_line(exc)}); {CREDENTIALS_HINT}"
        ) from exc


def _one_line(exc: BaseException) -> str:
    """The exception's text on one line: API errors can carry multi-line bodies."""
    return " ".join(str(exc).split()) or type(exc).__name__


@contextlib.contextmanager
def _translate(uri: str, *, listing: bool = False) -> Iterator[None]:
    """Turns google/requests/OS errors raised in the block into our errors naming ``uri``.

    A 404 is :class:`ObjectNotFound`, except for a listing, where GCS answers 404 only for a
    missing bucket (a missing prefix lists nothing): that is :class:`BucketNotFound`, so that
    no caller mistakes it for an empty folder. Credential and permission failures get their
    own types (exit 2), with what to do about them.
    """
    import requests
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth
    from google.cloud.storage import exceptions as media

    try:
        yield
    except api.NotFound as exc:
        if listing:
            raise BucketNotFound(uri, f"bucket {_bucket_uri(uri)} does not exist") from exc
        raise ObjectNotFound(uri, "not found (no such object or bucket)") from exc
    except api.Forbidden as exc:
        raise AccessDenied(
            uri, f"access denied ({_one_line(exc)}); check the credentials' IAM roles"
        ) from exc
    except (api.Unauthorized, auth.DefaultCredentialsError, auth.RefreshError) as exc:
        raise CredentialsError(
            uri, f"Google credentials failed ({_one_line(exc)}); {CREDENTIALS_HINT}"
        ) from exc
    except (
        api.GoogleAPIError,
        auth.GoogleAuthError,
        media.InvalidResponse,
        media.DataCorruption,
        requests.RequestException,
        OSError,
    ) as exc:
        raise StorageError(uri, f"{type(exc).__name__}: {_one_line(exc)}") from exc


def _bucket_uri(uri: str) -> str:
    return f"{GCS_SCHEME}{split_gcs(uri)[0]}"


def _bucket(uri: str) -> Any:
    """The client's handle on ``uri``'s bucket; a name GCS would refuse fails here, clearly."""
    name = split_gcs(uri)[0]
    client = gcs_client(uri)
    try:
        return client.bucket(name)
    except ValueError as exc:  # the client validates names before any request
        raise BucketNotFound(uri, f"{_bucket_uri(uri)} is not a valid bucket name: {exc}") from exc


def _blob(uri: str) -> Any:
    key = split_gcs(uri)[1]
    if not key:
        raise StorageError(uri, "names a bucket, not an object")
    return _bucket(uri).blob(key)


def _content_type(uri: str) -> str:
    # A real type makes objects readable in the console and by curl; the
    # bytes are the same either way.
    return mimetypes.guess_type(uri, strict=False)[0] or "application/octet-stream"


def read_bytes(uri: str) -> bytes:
    """Downloads a whole object (the client verifies its checksum).

    Args:
        uri: ``gs://bucket/key``.

    Returns:
        The object's bytes.

    Raises:
        ObjectNotFound: If the object or bucket does not exist.
        StorageError: On any other failure.
    """
    blob = _blob(uri)
    with _translate(uri):
        data: bytes = blob.download_as_bytes()
    return data


def download_file(uri: str, local_path: str) -> None:
    """Downloads an object to a local file, streaming (memory stays bounded).

    Args:
        uri: ``gs://bucket/key``.
        local_path: Where to write it (replaced).

    Raises:
        ObjectNotFound: If the object or bucket does not exist.
        StorageError: On any other failure.
    """
    blob = _blob(uri)
    with _translate(uri):
        blob.download_to_filename(local_path)


def write_bytes(uri: str, data: bytes) -> None:
    """Uploads ``data`` as one object; GCS makes a finished upload visible atomically.

    Args:
        uri: ``gs://bucket/key``.
        data: The new contents.

    Raises:
        StorageError: On failure.
    """
    blob = _blob(uri)
    with _translate(uri):
        blob.upload_from_string(data, content_type=_content_type(uri))


def _upload_stream(uri: str, stream: IO[bytes], size: int) -> None:
    blob = _blob(uri)
    with _translate(uri):
        blob.upload_from_file(stream, rewind=True, size=size, content_type=_content_type(uri))


def upload_file(local_path: str, uri: str) -> None:
    """Uploads a local file as one object (atomic like :func:`write_bytes`).

    Args:
        local_path: The file to upload.
        uri: ``gs://bucket/key``.

    Raises:
        ObjectNotFound: If ``local_path`` does not exist (the error names it).
        StorageError: On any other failure.
    """
    try:
        # Opened here, not by the client, so that open errors name the local path.
        src = Path(local_path).open("rb")  # noqa: SIM115 - closed by the `with` below
    except FileNotFoundError as exc:
        raise ObjectNotFound(local_path, "no such file") from exc
    except OSError as exc:
        raise StorageError(local_path, exc.strerror or str(exc)) from exc
    with src:
        _upload_stream(uri, src, os.fstat(src.fileno()).st_size)


@contextlib.contextmanager
def open_writer(uri: str) -> Iterator[IO[bytes]]:
    """Spools writes to an anonymous local temp file and uploads it when the block succeeds.

    Nothing is uploaded if the block raises, and the spool file vanishes either way.

    Args:
        uri: ``gs://bucket/key``.

    Yields:
        A binary file object to write to.

    Raises:
        StorageError: If the upload fails.
    """
    split_gcs(uri)  # fail on a malformed URI before the caller does any work
    with tempfile.TemporaryFile(prefix="musicgen-spool-") as spool:
        yield spool
        spool.flush()
        _upload_stream(uri, spool, os.fstat(spool.fileno()).st_size)


def exists(uri: str) -> bool:
    """Tells whether an object exists, or (like a local folder) any object lies under it.

    Args:
        uri: ``gs://bucket``, ``gs://bucket/key`` or ``gs://bucket/prefix/``.

    Returns:
        True for an existing bucket (bucket-only URI), object, or non-empty folder prefix;
        False when the bucket itself does not exist.

    Raises:
        StorageError: On failure other than absence.
    """
    key = split_gcs(uri)[1]
    bucket = _bucket(uri)
    try:
        with _translate(uri, listing=True):
            if not key:
                return bool(bucket.exists())
            if not key.endswith("/") and bucket.blob(key).exists():
                return True
            page = bucket.list_blobs(prefix=folder_prefix(key), max_results=1)
            return any(True for _ in page)
    except BucketNotFound:
        return False


def check_bucket(uri: str) -> None:
    """Fails unless ``uri``'s bucket exists and may be listed with the credentials in use.

    Lists at most one object under ``uri`` rather than reading the bucket's metadata: a job
    needs ``storage.objects.list`` anyway, while ``storage.buckets.get`` is often not granted.

    Args:
        uri: ``gs://bucket[/prefix]``.

    Raises:
        BucketNotFound: If the bucket does not exist or its name is invalid.
        CredentialsError: If there are no usable credentials.
        AccessDenied: If the credentials may not list the bucket.
        StorageError: On any other failure.
    """
    bucket = _bucket(uri)
    with _translate(uri, listing=True):
        page = bucket.list_blobs(prefix=folder_prefix(split_gcs(uri)[1]) or None, max_results=1)
        any(True for _ in page)


def delete(uri: str) -> None:
    """Deletes one object; a missing object (or bucket) is not an error.

    Args:
        uri: ``gs://bucket/key``.

    Raises:
        StorageError: On failure other than absence.
    """
    blob = _blob(uri)
    with contextlib.suppress(ObjectNotFound), _translate(uri):
        blob.delete()


def list_files(uri: str, *, recursive: bool = True) -> Iterator[FileInfo]:
    """Lists objects under ``uri`` treated as a folder, in name order.

    ``gs://b/p`` lists ``p/...`` but not ``p2/...``. GCS returns names in
    lexicographic UTF-8 byte order, which equals Python's ``str`` order, so the
    listing streams without being held in memory. Zero-byte "folder" placeholder
    objects (names ending in ``/``) and our temp files are skipped.

    Args:
        uri: ``gs://bucket`` or ``gs://bucket/prefix``.
        recursive: Include objects in sub-folders (otherwise only direct children).

    Yields:
        :class:`FileInfo` with ``uri`` = ``gs://bucket/<object name>``.

    Raises:
        BucketNotFound: If the bucket does not exist (a missing prefix just lists nothing).
        StorageError: On any other failure.
    """
    bucket, key = split_gcs(uri)
    prefix = folder_prefix(key)
    handle = _bucket(uri)
    with _translate(uri, listing=True):
        blobs = handle.list_blobs(
            prefix=prefix or None,
            delimiter=None if recursive else "/",
            # Only what we use: listing millions of objects moves far less JSON.
            fields="items(name,size),nextPageToken",
        )
        for blob in blobs:
            name: str = blob.name
            if name.endswith("/") or is_temp_name(name.rpartition("/")[2]):
                continue
            yield FileInfo(f"{GCS_SCHEME}{bucket}/{name}", int(blob.size or 0))


def arrow_filesystem(uri: str) -> tuple[pyarrow.fs.FileSystem, str]:
    """Returns a pyarrow ``GcsFileSystem`` for ``uri`` and the path it uses.

    Args:
        uri: ``gs://bucket[/key]``.

    Returns:
        ``(filesystem, "bucket/key")``; against the emulator the filesystem is
        anonymous and plain HTTP, otherwise it uses default credentials.
    """
    import pyarrow.fs

    bucket, key = split_gcs(uri)
    path = f"{bucket}/{key}".rstrip("/")
    endpoint = emulator_endpoint()
    if endpoint is None:
        return pyarrow.fs.GcsFileSystem(), path
    scheme, _, host = endpoint.partition("://")
    fs = pyarrow.fs.GcsFileSystem(anonymous=True, scheme=scheme, endpoint_override=host)
    return fs, path
