"""MusicXML and ABC inputs go through note-seq's readers, with Magenta's ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from note_seq.protobuf import music_pb2

from musicgen.config import ConvertConfig
from musicgen.corpus.pipeline import convert_corpus
from musicgen.corpus.sources import sequence_id
from musicgen.storage import layout, tfrecord

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]

SCORES = Path(__file__).parents[1] / "testdata" / "scores"


def test_abc_tunes_and_musicxml_convert_and_bad_xml_is_recorded(tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = convert_corpus(ConvertConfig(input=str(SCORES), output=str(out), max_failure_ratio=1))
    s = report.stats
    assert (s.inputs, s.converted, s.failed, s.sequences) == (3, 2, 1, 3)
    assert dict(s.source_types) == {"abc": 1, "musicxml": 2}
    shard = next(p for p in out.iterdir() if layout.is_sequence_shard(p.name))
    by_name: dict[str, list[music_pb2.NoteSequence]] = {}
    for record in tfrecord.read_tfrecord_file(str(shard)):
        ns = music_pb2.NoteSequence.FromString(record)
        by_name.setdefault(ns.filename, []).append(ns)
    tunes = by_name["tunebook.abc"]
    # Magenta hashes '<filename>_<reference number>' for each ABC tune.
    assert sorted(ns.id for ns in tunes) == sorted(
        sequence_id("abc", "scores", f"tunebook.abc_{n}") for n in (1, 2)
    )
    (score,) = by_name["minimal.musicxml"]
    assert [n.pitch for n in score.notes] == [60, 64, 67]
    assert score.id == sequence_id("musicxml", "scores", "minimal.musicxml")
    rows = {
        r["relpath"]: r for r in map(json.loads, (out / layout.FAILURES).read_text().splitlines())
    }
    assert rows["broken.xml"]["reason"] == "musicxml_conversion_error"
    assert rows["tunebook.abc"]["outcome"] == "converted"
    assert rows["tunebook.abc"]["reason"] == "abc_tune_errors"
    assert "MultiVoiceError" in rows["tunebook.abc"]["message"]
