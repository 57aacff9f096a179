"""Pure helpers for URIs that are either local paths or ``gs://bucket/key`` (no I/O)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

GCS_SCHEME = "gs://"

# Temp files we create beside their target while writing atomically look like
# ".<name>.musicgen-tmp-<32 hex>"; listings skip them so a crashed writer never
# leaks half-written data into a corpus or shard list.
TEMP_MARKER = ".musicgen-tmp-"
_TEMP_RE = re.compile(r"^\..*" + re.escape(TEMP_MARKER) + r"[0-9a-f]{32}$", re.DOTALL)
_TEMP_NAME_BYTES = 128
_SLASHES = re.compile(r"/{2,}")

UriLike = str | os.PathLike[str]


@dataclass(frozen=True, order=True)
class FileInfo:
    """One regular file found by a listing.

    Attributes:
        uri: Full URI of the file, in the same form (local or gs://) as the listed folder.
        size: Size in bytes.
    """

    uri: str
    size: int


def absolute(uri: UriLike) -> str:
    """A gs:// URI unchanged, a local path made absolute.

    Drivers resolve paths before handing them to Ray workers, whose working directory is not
    the caller's (Ray Train workers run elsewhere).
    """
    text = os.fspath(uri)
    return text if is_gcs(text) else os.path.abspath(text)  # noqa: PTH100 - no symlink resolution


def as_str(uri: UriLike) -> str:
    """Returns ``uri`` as a plain string (accepts ``pathlib.Path`` for local paths).

    Args:
        uri: A string URI or a path-like object.

    Returns:
        The string form.
    """
    return os.fspath(uri)


def is_gcs(uri: UriLike) -> bool:
    """Tells whether ``uri`` names Google Cloud Storage.

    Args:
        uri: A local path or ``gs://`` URI.

    Returns:
        True for ``gs://...``, False for anything else (local paths).
    """
    return isinstance(uri, str) and uri.startswith(GCS_SCHEME)


def split_gcs(uri: str) -> tuple[str, str]:
    """Splits a ``gs://`` URI into bucket and object key.

    The key is taken verbatim after the first slash: ``#``, ``?`` and ``%`` are
    ordinary characters in object names, so no URL parsing happens here.

    Args:
        uri: A ``gs://bucket[/key]`` URI.

    Returns:
        ``(bucket, key)``; ``key`` is ``""`` for the bucket root and keeps any trailing slash.

    Raises:
        ValueError: If ``uri`` is not a ``gs://`` URI or has no bucket.
    """
    if not is_gcs(uri):
        raise ValueError(f"not a gs:// URI: {uri!r}")
    bucket, _, key = uri[len(GCS_SCHEME) :].partition("/")
    if not bucket:
        raise ValueError(f"gs:// URI without a bucket: {uri!r}")
    return bucket, key


def folder_prefix(key: str) -> str:
    """Returns the listing prefix that treats ``key`` as a folder.

    Args:
        key: An object key, possibly empty or with a trailing slash.

    Returns:
        ``""`` for the bucket root, otherwise ``key`` with exactly one trailing slash,
        so that ``p`` lists ``p/...`` and never ``p2/...``.
    """
    key = key.rstrip("/")
    return f"{key}/" if key else ""


def join(base: UriLike, *parts: str) -> str:
    """Joins path components onto a local path or ``gs://`` URI.

    Unlike ``os.path.join``, a part with a leading slash does not restart the
    path, and runs of slashes collapse, so the result never doubles a slash.

    Args:
        base: A local path or ``gs://`` URI.
        *parts: Components to append; empty ones are ignored.

    Returns:
        The joined URI, as a string.
    """
    result = as_str(base)
    for part in parts:
        part = _SLASHES.sub("/", part).strip("/")
        if not part:
            continue
        if not result:
            result = part
        elif result.endswith("/"):
            result += part
        else:
            result += "/" + part
    return result


def basename(uri: UriLike) -> str:
    """Returns the last component of a URI, ignoring a trailing slash.

    Args:
        uri: A local path or ``gs://`` URI, e.g. ``gs://b/a/x.mid`` or ``gs://b/a/``.

    Returns:
        ``x.mid`` and ``a`` respectively; the bucket name for ``gs://b``.
    """
    text = as_str(uri)
    if is_gcs(text):
        bucket, key = split_gcs(text)
        key = key.rstrip("/")
        return key.rpartition("/")[2] if key else bucket
    stripped = text.rstrip("/")
    return stripped.rpartition("/")[2] if stripped else text


def relative_to(uri: UriLike, base: UriLike) -> str:
    """Returns the posix-style path of ``uri`` relative to the folder ``base``.

    Args:
        uri: A local path or ``gs://`` URI under ``base``.
        base: The folder (local path or ``gs://`` prefix); a trailing slash is optional.

    Returns:
        The relative path with ``/`` separators, or ``"."`` when both name the same place.

    Raises:
        ValueError: If ``uri`` is not under ``base`` (or they mix local and gs://).
    """
    text, base_text = as_str(uri), as_str(base)
    if is_gcs(text) != is_gcs(base_text):
        raise ValueError(f"{text!r} is not under {base_text!r}")
    if is_gcs(text):
        bucket, key = split_gcs(text)
        base_bucket, base_key = split_gcs(base_text)
        key, prefix = key.rstrip("/"), folder_prefix(base_key)
        if bucket == base_bucket and key == prefix.rstrip("/"):
            return "."
        if bucket != base_bucket or not key.startswith(prefix):
            raise ValueError(f"{text!r} is not under {base_text!r}")
        return key[len(prefix) :]
    # Lexical, like os.path.abspath: symlinks are not resolved, so a corpus
    # reached through a link keeps its own relative names.
    path = PurePosixPath(os.path.normpath(Path(text).absolute()))
    root = PurePosixPath(os.path.normpath(Path(base_text).absolute()))
    if not path.is_relative_to(root):
        raise ValueError(f"{text!r} is not under {base_text!r}")
    return str(path.relative_to(root))


def is_within(inner: UriLike, outer: UriLike) -> bool:
    """Tells whether ``inner`` is ``outer`` itself or lies below it, both taken as folders.

    Folder-aware, so ``/a/ex2`` is not within ``/a/ex`` and ``gs://b/ex2`` is not within
    ``gs://b/ex``; ``gs://b`` (the bucket root) holds every key of its bucket. Lexical: local
    paths are made absolute and normalized but links are not resolved (callers that must see
    through links resolve them first). A local path and a gs:// URI are never within each other.

    Args:
        inner: A local path or ``gs://`` URI.
        outer: A local path or ``gs://`` URI.

    Returns:
        True if ``inner`` equals ``outer`` or is below it.
    """
    inner_text, outer_text = as_str(inner), as_str(outer)
    if is_gcs(inner_text) != is_gcs(outer_text):
        return False
    if is_gcs(inner_text):
        bucket, key = split_gcs(inner_text)
        outer_bucket, outer_key = split_gcs(outer_text)
        prefix = folder_prefix(outer_key)
        return bucket == outer_bucket and folder_prefix(key).startswith(prefix)
    path = PurePosixPath(os.path.normpath(Path(inner_text).absolute()))
    root = PurePosixPath(os.path.normpath(Path(outer_text).absolute()))
    return path.is_relative_to(root)


def temp_name(name: str, token: str) -> str:
    """Returns the name of the temp file used while writing ``name`` atomically.

    Args:
        name: Base name of the final file.
        token: 32 lowercase hex characters that make the temp name unique.

    Returns:
        ``.<name>.musicgen-tmp-<token>``, with ``name`` cut to 128 UTF-8 bytes so the
        temp name stays under the usual 255-byte file-name limit.
    """
    short = name.encode("utf-8", "surrogateescape")[:_TEMP_NAME_BYTES]
    return f".{short.decode('utf-8', 'ignore')}{TEMP_MARKER}{token}"


def is_temp_name(name: str) -> bool:
    """Tells whether a base name is one of our in-progress temp files.

    Args:
        name: A file's base name.

    Returns:
        True if it was produced by :func:`temp_name`.
    """
    return bool(_TEMP_RE.match(name))
