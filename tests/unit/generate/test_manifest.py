"""Sample objects, manifest rows and the report: atomic, idempotent, strict to read back."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from musicgen import storage
from musicgen.errors import ObjectNotFound, StorageError
from musicgen.generate.manifest import (
    ManifestRow,
    read_manifest,
    read_report,
    write_manifest,
    write_report,
    write_sample,
)
from musicgen.storage import layout

SETTINGS = {"temperature": 1.0, "steps": 3000}


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_sample_is_atomic_idempotent_and_described(tmp_path: Path) -> None:
    prefix = layout.batch_prefix(tmp_path, "prnn", "2024-05-01", "b1")
    sid = layout.sample_id("b1", 3)
    row = write_sample(prefix, sid, b"MThd-data", 17, SETTINGS, {"polyphony": 1.5})
    again = write_sample(prefix, sid, b"MThd-data", 17, SETTINGS, {"polyphony": 1.5})
    assert row == again
    assert row.index == 3
    assert row.uri == "b1-00003.mid"
    assert row.size == 9
    assert row.sha256 == hashlib.sha256(b"MThd-data").hexdigest()
    assert _files(Path(prefix)) == ["b1-00003.mid"]  # one object, no temp files
    assert ManifestRow.from_json(row.to_json()) == row


def test_unserializable_metrics_fail_before_writing(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_sample(tmp_path, "b1-00000", b"x", 1, {}, {"entropy": object()})
    assert _files(tmp_path) == []


def test_non_finite_values_are_written_as_null_never_as_strings(tmp_path: Path) -> None:
    metrics = {"entropy": float("nan"), "ll": np.float32("-inf"), "deep": [float("inf"), 1.5]}
    row = write_sample(tmp_path, "b1-00000", b"MThd", 1, {"t": np.float64(1.0)}, metrics)
    assert row.metrics == {"entropy": None, "ll": None, "deep": [None, 1.5]}
    assert ManifestRow.from_json(row.to_json()) == row
    write_manifest(tmp_path, [row])
    write_report(tmp_path, {"quality": {"polyphony": {"mean": float("nan")}}, "eps": math.inf})
    for name in (layout.MANIFEST, layout.REPORT):
        text = (tmp_path / name).read_text()
        assert "NaN" not in text
        assert "nan" not in text.lower()
        assert "inf" not in text.lower()
        assert "null" in text
    assert read_report(tmp_path) == {"quality": {"polyphony": {"mean": None}}, "eps": None}


@pytest.mark.parametrize(
    ("change", "message"),
    [({"extra": 1}, "unknown"), ({"seed": None}, "'seed' must be int"),
     ({"index": True}, "'index' must be int"), ({"settings": []}, "'settings' must be dict")],
)  # fmt: skip
def test_from_json_is_strict(change: dict[str, object], message: str) -> None:
    row = ManifestRow("b-00000", 0, 1, {}, "b-00000.mid", 1, "ab", {})
    record = json.loads(row.to_json()) | change
    with pytest.raises(ValueError, match=message):
        ManifestRow.from_json(json.dumps(record))
    del record["sha256"]
    with pytest.raises(ValueError, match="missing"):
        ManifestRow.from_json(json.dumps(record))


def test_manifest_sorted_by_index_and_read_back(tmp_path: Path) -> None:
    rows = [write_sample(tmp_path, f"b-{i:05d}", bytes([i]), i, SETTINGS, {}) for i in (2, 0, 1)]
    uri = write_manifest(tmp_path, rows)
    assert uri == str(tmp_path / "manifest.jsonl")
    back = read_manifest(tmp_path)
    assert [r.index for r in back] == [0, 1, 2]
    assert back == sorted(rows, key=lambda r: r.index)
    with pytest.raises(ValueError, match="duplicate index"):
        write_manifest(tmp_path, [rows[0], rows[0]])


def test_malformed_manifest_names_uri_and_line(tmp_path: Path) -> None:
    row = write_sample(tmp_path, "b-00000", b"x", 0, {}, {})
    storage.write_text(str(tmp_path / layout.MANIFEST), row.to_json() + "\n{not json\n")
    with pytest.raises(StorageError, match=r"manifest\.jsonl: line 2"):
        read_manifest(tmp_path)


def test_report_is_written_last_and_marks_completion(tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound, match="no report: the batch is incomplete"):
        read_report(tmp_path)
    with pytest.raises(ObjectNotFound, match=r"write the manifest before report\.json"):
        write_report(tmp_path, {"samples": 0})
    assert not (tmp_path / layout.REPORT).exists()
    write_manifest(tmp_path, [])
    write_report(tmp_path, {"samples": 0, "metrics": {}})
    assert read_report(tmp_path) == {"samples": 0, "metrics": {}}
    storage.write_text(str(tmp_path / layout.REPORT), "[1]")
    with pytest.raises(StorageError, match="not a JSON object"):
        read_report(tmp_path)
