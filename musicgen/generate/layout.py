"""The names of a generated batch: its prefix, sample ids and files, and finding the newest one.

A batch lives at ``<root>/generated/<model>/<YYYY-MM-DD>/<batch_id>/`` and holds one
``<sample_id>.mid`` per sample, ``manifest.jsonl`` and ``report.json``. The report is written last,
so its presence marks a complete batch. Sample names depend only on (batch_id, index), so a retried
batch overwrites its own objects instead of adding new ones.
"""

from __future__ import annotations

import datetime as dt
import re

from musicgen import storage
from musicgen.errors import ObjectNotFound

GENERATED = "generated"
MANIFEST = "manifest.jsonl"
REPORT = "report.json"
MIDI_SUFFIX = ".mid"
INDEX_DIGITS = 5

# One path component: no slashes, no leading dot (hidden/temp files), nothing a URL mangles.
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=+-]*$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SAMPLE_RE = re.compile(r"^(?P<batch>.+)-(?P<index>\d{5,})$")


def _check_name(kind: str, value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(
            f"bad {kind} {value!r}: use letters, digits and _.=+- (not starting with . or -)"
        )
    return value


def format_date(date: dt.date | str) -> str:
    """``YYYY-MM-DD`` for a date or an already formatted string (validated, so a typo fails here).

    Args:
        date: A ``datetime.date`` (a datetime uses its date) or ``"YYYY-MM-DD"``.

    Returns:
        The ISO date string.

    Raises:
        ValueError: If the string is not a real ``YYYY-MM-DD`` date.
    """
    if isinstance(date, dt.datetime):
        date = date.date()
    if isinstance(date, dt.date):
        return date.isoformat()
    try:
        if not _DATE_RE.match(date):
            raise ValueError("expected YYYY-MM-DD")
        dt.date.fromisoformat(date)  # rejects 2024-02-30
    except ValueError as exc:
        raise ValueError(f"bad date {date!r}: {exc}") from None
    return date


def batch_prefix(root: storage.UriLike, model: str, date: dt.date | str, batch_id: str) -> str:
    """``<root>/generated/<model>/<YYYY-MM-DD>/<batch_id>``, local or gs://.

    Args:
        root: The bucket or folder that holds ``generated/``.
        model: Model name (one path component).
        date: The batch's date.
        batch_id: The batch id (one path component).

    Returns:
        The batch prefix, without a trailing slash.

    Raises:
        ValueError: If a component is empty, contains a slash or starts with a dot.
    """
    return storage.join(
        root,
        GENERATED,
        _check_name("model", model),
        format_date(date),
        _check_name("batch id", batch_id),
    )


def sample_id(batch_id: str, index: int) -> str:
    """``<batch_id>-00042``: deterministic, sorts by index up to 99999 samples.

    Args:
        batch_id: The batch id.
        index: The sample's index in the batch (0-based).

    Returns:
        The sample id.

    Raises:
        ValueError: On a bad batch id or a negative index.
    """
    _check_name("batch id", batch_id)
    if index < 0:
        raise ValueError(f"sample index must be >= 0, got {index}")
    return f"{batch_id}-{index:0{INDEX_DIGITS}d}"


def parse_sample_id(value: str) -> tuple[str, int]:
    """Inverse of :func:`sample_id`.

    Args:
        value: A sample id such as ``b7-00042``.

    Returns:
        ``(batch_id, index)``.

    Raises:
        ValueError: If ``value`` is not something :func:`sample_id` produces.
    """
    match = _SAMPLE_RE.match(value)
    if not match or sample_id(match["batch"], int(match["index"])) != value:
        raise ValueError(f"bad sample id {value!r}: expected <batch_id>-<5+ digit index>")
    return match["batch"], int(match["index"])


def sample_name(sample: str) -> str:
    """``<sample_id>.mid``, the sample's object name relative to its batch prefix.

    Args:
        sample: The sample id.

    Returns:
        The file name.
    """
    return f"{_check_name('sample id', sample)}{MIDI_SUFFIX}"


def latest_batch(root: storage.UriLike, model: str | None = None) -> str:
    """The newest complete batch (one with ``report.json``) under ``<root>/generated/``.

    Newest means the latest date, then the greatest batch id (use sortable ids, e.g. a
    timestamp); ties across models break by model name. Incomplete batches are ignored.

    Args:
        root: The bucket or folder that holds ``generated/``.
        model: Only consider this model's batches.

    Returns:
        The batch prefix.

    Raises:
        ObjectNotFound: If there is no complete batch; names the folder searched.
    """
    base = storage.join(root, GENERATED, _check_name("model", model) if model else "")
    found: list[tuple[str, str, str, str]] = []
    if storage.exists(base):
        for info in storage.list_files(base):
            parts = storage.relative_to(info.uri, base).split("/")
            if model:
                parts = [model, *parts]
            if len(parts) != 4 or parts[3] != REPORT or not _DATE_RE.match(parts[1]):
                continue
            found.append((parts[1], parts[2], parts[0], info.uri))
    if not found:
        raise ObjectNotFound(base, f"no complete batch ({REPORT} present) found")
    date, batch, name, _ = max(found)
    return batch_prefix(root, name, date, batch)
