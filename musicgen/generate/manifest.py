"""A batch's records: one MIDI object per sample, ``manifest.jsonl`` listing them, ``report.json``.

Writers are idempotent (object names derive from the sample id, every write is atomic), so a
retried task rewrites the same objects. ``report.json`` goes last and marks the batch complete;
readers such as ``pull`` refuse a batch without it. Neither file ever holds NaN or infinity (nor
strings standing for them): a non-finite number is written as ``null`` (:func:`json_safe`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from musicgen import storage
from musicgen.errors import ObjectNotFound, StorageError
from musicgen.storage.layout import MANIFEST, REPORT, parse_sample_id, sample_name


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, infinity), at any depth, replaced by ``None``,
    numpy scalars turned into Python numbers and tuples into lists, ready for strict JSON."""
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        value = value.item()  # a numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_FIELDS = ("sample_id", "index", "seed", "settings", "uri", "size", "sha256", "metrics")


@dataclass(frozen=True)
class ManifestRow:
    """One sample of a batch.

    Attributes:
        sample_id: The sample's id (see ``layout.sample_id``).
        index: Its index in the batch.
        seed: The seed it was sampled with, so it can be regenerated.
        settings: Sampling settings (temperature, length, controls, ...), JSON values only.
        uri: The MIDI object's name relative to the batch prefix.
        size: The object's size in bytes.
        sha256: Hex SHA-256 of the object.
        metrics: Quality metrics (see ``quality``), JSON values only.
    """

    sample_id: str
    index: int
    seed: int
    settings: dict[str, Any]
    uri: str
    size: int
    sha256: str
    metrics: dict[str, Any]

    def to_json(self) -> str:
        """One JSON line (no newline), keys sorted; NaN/inf are written as null.

        Raises:
            TypeError: If settings or metrics hold values JSON cannot carry.
        """
        record = json_safe({name: getattr(self, name) for name in _FIELDS})
        return json.dumps(record, sort_keys=True, allow_nan=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> ManifestRow:
        """Parses what :meth:`to_json` wrote, strictly (a missing or unknown key is an error).

        Args:
            line: One manifest line.

        Returns:
            The row.

        Raises:
            ValueError: On bad JSON, missing/unknown keys or wrongly typed values.
        """
        record = json.loads(line)
        if not isinstance(record, dict):
            raise ValueError("manifest row is not a JSON object")
        missing, unknown = set(_FIELDS) - record.keys(), record.keys() - set(_FIELDS)
        if missing or unknown:
            raise ValueError(
                f"manifest row keys: missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        types: dict[str, type] = {
            "sample_id": str, "index": int, "seed": int, "uri": str, "size": int,
            "sha256": str, "settings": dict, "metrics": dict,
        }  # fmt: skip
        for name, kind in types.items():
            value = record[name]
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ValueError(f"manifest row {name!r} must be {kind.__name__}, got {value!r}")
        return cls(**record)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256, the checksum manifests carry."""
    return hashlib.sha256(data).hexdigest()


def write_sample(
    prefix: storage.UriLike,
    sample_id: str,
    midi_bytes: bytes,
    seed: int,
    settings: Mapping[str, Any],
    metrics: Mapping[str, Any],
) -> ManifestRow:
    """Writes one sample's MIDI atomically at ``<prefix>/<sample_id>.mid`` and describes it.

    The name depends only on the sample id, so writing it again (a retried task) overwrites.

    Args:
        prefix: The batch prefix (``layout.batch_prefix``).
        sample_id: The sample id (``layout.sample_id``); its index becomes the row's index.
        midi_bytes: The Standard MIDI File.
        seed: The sampling seed.
        settings: Sampling settings (JSON values).
        metrics: Quality metrics (JSON values).

    Returns:
        The manifest row for :func:`write_manifest`.

    Raises:
        ValueError: On a bad sample id.
        TypeError: On values JSON cannot carry (checked before writing); NaN/inf become null.
        StorageError: If the write fails; names the URI.
    """
    _, index = parse_sample_id(sample_id)
    name = sample_name(sample_id)
    row = ManifestRow(
        sample_id=sample_id,
        index=index,
        seed=int(seed),
        uri=name,
        size=len(midi_bytes),
        sha256=sha256_hex(midi_bytes),
        settings=json_safe(dict(settings)),
        metrics=json_safe(dict(metrics)),
    )
    row.to_json()  # fail on unserializable settings/metrics before anything is written
    storage.write_bytes(storage.join(prefix, name), midi_bytes)
    return row


def write_manifest(prefix: storage.UriLike, rows: Iterable[ManifestRow]) -> str:
    """Writes ``manifest.jsonl`` atomically, rows sorted by index.

    Args:
        prefix: The batch prefix.
        rows: The rows from :func:`write_sample`.

    Returns:
        The manifest's URI.

    Raises:
        ValueError: If two rows share an index or sample id.
        StorageError: If the write fails.
    """
    ordered = sorted(rows, key=lambda r: r.index)
    for kind, values in (
        ("index", [str(r.index) for r in ordered]),
        ("sample id", [r.sample_id for r in ordered]),
    ):
        dupes = sorted(v for v, count in Counter(values).items() if count > 1)
        if dupes:
            raise ValueError(f"duplicate {kind} in manifest rows: {', '.join(dupes[:5])}")
    uri = storage.join(prefix, MANIFEST)
    storage.write_text(uri, "".join(row.to_json() + "\n" for row in ordered))
    return uri


def parse_manifest(uri: str, text: str) -> list[ManifestRow]:
    """Parses manifest text; errors name ``uri`` and the line.

    Raises:
        StorageError: On a malformed line.
    """
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(ManifestRow.from_json(line))
        except ValueError as exc:
            raise StorageError(uri, f"line {number}: {exc}") from exc
    return rows


def read_manifest(prefix: storage.UriLike) -> list[ManifestRow]:
    """Reads ``<prefix>/manifest.jsonl``.

    Args:
        prefix: The batch prefix.

    Returns:
        Its rows, in file order (by index).

    Raises:
        ObjectNotFound: If there is no manifest.
        StorageError: On a malformed line; names the URI and line.
    """
    uri = storage.join(prefix, MANIFEST)
    return parse_manifest(uri, storage.read_bytes(uri).decode("utf-8"))


def write_report(prefix: storage.UriLike, report: Mapping[str, Any]) -> str:
    """Writes ``report.json``, the commit mark: call it after every sample and the manifest.

    Args:
        prefix: The batch prefix.
        report: The batch summary (JSON values).

    Returns:
        The report's URI.

    Raises:
        ObjectNotFound: If the manifest is not there yet (a report must never precede it).
        TypeError: If ``report`` holds values JSON cannot carry (NaN/inf are written as null).
        StorageError: If the write fails.
    """
    manifest = storage.join(prefix, MANIFEST)
    if not storage.exists(manifest):
        raise ObjectNotFound(manifest, f"write the manifest before {REPORT}")
    text = json.dumps(json_safe(dict(report)), sort_keys=True, indent=2, allow_nan=False) + "\n"
    uri = storage.join(prefix, REPORT)
    storage.write_text(uri, text)
    return uri


def read_report(prefix: storage.UriLike) -> dict[str, Any]:
    """Reads ``<prefix>/report.json``.

    Args:
        prefix: The batch prefix.

    Returns:
        The report.

    Raises:
        ObjectNotFound: If the batch has no report (it is incomplete).
        StorageError: If the report is not a JSON object.
    """
    uri = storage.join(prefix, REPORT)
    try:
        report = json.loads(storage.read_bytes(uri))
    except ObjectNotFound as exc:
        raise ObjectNotFound(uri, "no report: the batch is incomplete") from exc
    except ValueError as exc:
        raise StorageError(uri, f"not valid JSON: {exc}") from exc
    if not isinstance(report, dict):
        raise StorageError(uri, "report is not a JSON object")
    return report
