"""Conversion with gs:// input and output through the real GCS emulator process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from note_seq.protobuf import music_pb2

from musicgen import storage
from musicgen.config import ConvertConfig
from musicgen.corpus.pipeline import convert_corpus

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]

SAMPLE = Path(__file__).parents[2] / "data" / "sample-corpus"


def upload_corpus(bucket: str) -> str:
    prefix = storage.join(bucket, "corpora", "pop909 sample")
    for path in sorted((SAMPLE / "pop909").glob("*.mid"))[:6]:
        storage.write_bytes(storage.join(prefix, "piano", path.name), path.read_bytes())
    storage.write_bytes(storage.join(prefix, "bad", "broken.MID"), b"MThd\x00\x00")
    return prefix


def test_gcs_in_gcs_out(gcs_bucket: str) -> None:
    corpus = upload_corpus(gcs_bucket)
    out = storage.join(gcs_bucket, "sequences", "pop909")
    report = convert_corpus(ConvertConfig(input=corpus, output=out, files_per_shard=4))
    assert (report.stats.inputs, report.stats.converted, report.stats.failed) == (7, 6, 1)
    stats = json.loads(storage.read_bytes(storage.join(out, "stats.json")))
    assert stats["collection"] == "pop909 sample"
    names = sorted(storage.basename(f.uri) for f in storage.list_files(out))
    assert names == [
        "failures.jsonl",
        "notesequences-00000-of-00002.tfrecord",
        "notesequences-00001-of-00002.tfrecord",
        "stats.json",
    ]
    sequences = [
        music_pb2.NoteSequence.FromString(r)
        for shard in names[1:3]
        for r in storage.tfrecord.read_tfrecord_file(storage.join(out, shard))
    ]
    assert sorted(ns.filename for ns in sequences) == [
        f"piano/{p.name}" for p in sorted((SAMPLE / "pop909").glob("*.mid"))[:6]
    ]
    failure = json.loads(storage.read_bytes(storage.join(out, "failures.jsonl")))
    assert failure["uri"] == storage.join(corpus, "bad", "broken.MID")
    assert failure["reason"] == "truncated"


def test_local_in_gcs_out_and_back(gcs_bucket: str, tmp_path: Path) -> None:
    out = storage.join(gcs_bucket, "sequences")
    report = convert_corpus(ConvertConfig(input=str(SAMPLE), output=out))
    assert report.stats.converted == 24
    corpus = upload_corpus(gcs_bucket)
    local = convert_corpus(ConvertConfig(input=corpus, output=str(tmp_path / "o")))
    assert local.stats.converted == 6
    assert (tmp_path / "o" / "stats.json").exists()
