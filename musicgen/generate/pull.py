"""Copies a complete generated batch to a local folder, verified and resumable.

With the pieces come ``report.html`` and the files it shows (renders, audio, plots), listed
with their sha256 in the report's ``report_html`` section, so the pulled page works offline.

Only batches with ``report.json`` are pulled (it is written last, so an unfinished batch is never
mistaken for a finished one). Each MIDI file is streamed into a temp file beside its target, hashed
on the way and renamed only when its SHA-256 matches the manifest, so an interrupted or corrupt
download never leaves a partial file; a rerun skips every file whose hash already matches.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from musicgen import storage
from musicgen.errors import ObjectNotFound, StorageError
from musicgen.generate.manifest import ManifestRow, parse_manifest, read_report
from musicgen.storage.layout import (
    MANIFEST,
    PLOTS,
    RENDERS,
    REPORT,
    REPORT_HTML,
    latest_batch,
)

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_PAGE_DIRS = (RENDERS, PLOTS)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=+-]*$")  # no "..", no hidden files


class ChecksumMismatch(StorageError):
    """A downloaded object's SHA-256 differs from the manifest's."""


@dataclass(frozen=True)
class PullReport:
    """What one pull did.

    Attributes:
        source: The batch prefix pulled.
        dest: The local folder written.
        downloaded: Files that were missing locally and were fetched.
        repaired: Local files whose hash did not match and were fetched again.
        skipped: Local files already matching the manifest.
        bytes: Bytes fetched (downloaded + repaired), page files included.
        page_files: Files of ``report.html`` (the page, renders, audio, plots) fetched.
    """

    source: str
    dest: str
    downloaded: int
    repaired: int
    skipped: int
    bytes: int
    page_files: int = 0

    @property
    def files(self) -> int:
        """Every sample file of the batch."""
        return self.downloaded + self.repaired + self.skipped


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _matches(path: Path, row: ManifestRow) -> bool:
    """True if ``path`` already holds the row's object (size first: it is cheap)."""
    try:
        return path.stat().st_size == row.size and _file_sha256(path) == row.sha256
    except FileNotFoundError:
        return False


def _fetch(source_uri: str, target: Path, row: ManifestRow) -> int:
    return _fetch_verified(source_uri, target, row.sha256, row.size)


def _fetch_verified(source_uri: str, target: Path, sha256: str, expected_size: int | None) -> int:
    """Streams one object into ``target`` atomically, verifying it before the rename."""
    digest = hashlib.sha256()
    size = 0
    with storage.open_reader(source_uri) as src, storage.open_writer(str(target)) as dst:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            dst.write(chunk)
        if digest.hexdigest() != sha256:
            # Raised inside the writer: its temp file is discarded, the target is untouched.
            said = "" if expected_size is None else f", manifest says {expected_size}"
            raise ChecksumMismatch(
                source_uri,
                f"sha256 mismatch: manifest says {sha256}, downloaded {digest.hexdigest()} "
                f"({size} bytes{said})",
            )
    return size


def _local_target(dest: Path, row: ManifestRow, manifest_uri: str) -> Path:
    # A manifest names objects inside its own batch; anything else could write outside dest.
    name = row.uri
    if not name or "/" in name or "\\" in name or name in {".", ".."} or name.startswith("."):
        raise StorageError(manifest_uri, f"sample {row.sample_id}: bad object name {name!r}")
    return dest / name


def resolve_source(source: storage.UriLike, *, latest: bool, model: str | None) -> str:
    """The batch prefix to pull: ``source`` itself, or its newest complete batch with ``latest``."""
    if latest:
        return latest_batch(source, model)
    if model is not None:
        raise ValueError("model only selects among batches with latest=True")
    return os.fspath(source).rstrip("/")


def pull(
    source: storage.UriLike,
    dest: storage.UriLike,
    *,
    latest: bool = False,
    model: str | None = None,
) -> PullReport:
    """Downloads a complete batch's samples, manifest and report into the local folder ``dest``.

    Args:
        source: A batch prefix (local or gs://), or with ``latest`` the root holding
            ``generated/``.
        dest: A local folder (created if needed).
        latest: Pull the newest complete batch under ``source`` (see ``layout.latest_batch``).
        model: With ``latest``, only consider this model.

    Returns:
        Counts of files downloaded, repaired and skipped, and bytes fetched.

    Raises:
        ObjectNotFound: If the batch has no ``report.json`` (incomplete), or no complete batch
            exists under the root with ``latest``, or a listed object is missing.
        ChecksumMismatch: If a download's SHA-256 differs from the manifest (names the object
            and both hashes; no file is left for it).
        StorageError: On a malformed manifest or any other I/O failure; names the URI.
        ConfigError: If ``dest`` and ``source`` are the same folder or one holds the other.
        BucketNotFound: If the source's bucket does not exist.
        ValueError: If ``dest`` is a gs:// URI, or ``model`` is given without ``latest``.
    """
    if storage.is_gcs(dest):
        raise ValueError(f"pull writes to a local folder, not {os.fspath(dest)}")
    # A dest inside the source (or the source itself) would have its own objects replaced,
    # and deleted on a checksum mismatch; a missing bucket should not read as "incomplete".
    storage.check_job_paths(source, dest, what="pull")
    prefix = resolve_source(source, latest=latest, model=model)
    report_uri, manifest_uri = storage.join(prefix, REPORT), storage.join(prefix, MANIFEST)
    try:
        report = read_report(prefix)  # validates; the bytes are re-read below to copy verbatim
    except ObjectNotFound as exc:
        raise ObjectNotFound(prefix, f"batch is incomplete (no {REPORT}); not pulling it") from exc
    manifest_bytes = storage.read_bytes(manifest_uri)
    rows = parse_manifest(manifest_uri, manifest_bytes.decode("utf-8"))
    folder = Path(os.fspath(dest))
    storage.makedirs(str(folder))

    downloaded = repaired = skipped = fetched = 0
    for row in rows:
        target = _local_target(folder, row, manifest_uri)
        if _matches(target, row):
            skipped += 1
            continue
        stale = target.exists()
        try:
            fetched += _fetch(storage.join(prefix, row.uri), target, row)
        except ChecksumMismatch:
            storage.delete(str(target))  # a stale local copy is wrong too; leave nothing corrupt
            raise
        if stale:
            repaired += 1
            log.info("repaired %s (hash did not match)", target)
        else:
            downloaded += 1
    page_files, page_bytes = _pull_page(prefix, folder, report, report_uri)
    storage.write_bytes(str(folder / MANIFEST), manifest_bytes)
    storage.write_bytes(str(folder / REPORT), storage.read_bytes(report_uri))
    result = PullReport(
        prefix, str(folder), downloaded, repaired, skipped, fetched + page_bytes, page_files
    )
    log.info(
        "pulled %s -> %s: %d downloaded, %d repaired, %d skipped, %d bytes",
        prefix, folder, downloaded, repaired, skipped, fetched,
    )  # fmt: skip
    return result


def _page_target(dest: Path, name: Any, report_uri: str) -> Path:
    """Where a page file goes: ``report.html`` or ``renders/``/``plots/`` + one safe name."""
    parts = name.split("/") if isinstance(name, str) else []
    safe = bool(parts) and all(_SAFE_NAME.match(p) for p in parts)
    if not safe or not (parts == [REPORT_HTML] or (len(parts) == 2 and parts[0] in _PAGE_DIRS)):
        raise StorageError(report_uri, f"report_html: bad file name {name!r}")
    return dest.joinpath(*parts)


def _pull_page(prefix: str, dest: Path, report: dict[str, Any], report_uri: str) -> tuple[int, int]:
    """Fetches ``report.html`` and its files (verified, skipping matches); (files, bytes)."""
    section = report.get("report_html")
    if not isinstance(section, dict):
        return 0, 0  # a batch from before the page existed
    wanted = {section.get("page"): section.get("sha256"), **(section.get("files") or {})}
    fetched = count = 0
    for name, sha256 in sorted(wanted.items(), key=lambda item: str(item[0])):
        target = _page_target(dest, name, report_uri)
        if not isinstance(sha256, str):
            raise StorageError(report_uri, f"report_html: no sha256 for {name!r}")
        if target.is_file() and _file_sha256(target) == sha256:
            continue
        storage.makedirs(str(target.parent))
        fetched += _fetch_verified(storage.join(prefix, name), target, sha256, None)
        count += 1
    return count, fetched
