"""The conversion job on a real embedded Ray: parity with Magenta, bad input, idempotency."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from note_seq.protobuf import music_pb2

from musicgen.config import ConvertConfig
from musicgen.corpus.pipeline import convert_corpus
from musicgen.storage import layout, tfrecord

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]


def read_sequences(output: Path) -> list[music_pb2.NoteSequence]:
    """Every NoteSequence in the output's shards, in shard order."""
    shards = sorted(p for p in output.iterdir() if layout.is_sequence_shard(p.name))
    return [
        music_pb2.NoteSequence.FromString(record)
        for shard in shards
        for record in tfrecord.read_tfrecord_file(str(shard))
    ]


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def read_failures(output: Path) -> dict[str, dict]:
    lines = (output / layout.FAILURES).read_text(encoding="utf-8").splitlines()
    return {row["relpath"]: row for row in map(json.loads, lines)}


@pytest.mark.parametrize("parser", ["fast", "note_seq"])
def test_golden_notesequences_match_magenta(golden_dir: Path, tmp_path: Path, parser: str) -> None:
    """Every file Magenta converted gives the identical proto; the corrupt one is recorded."""
    expected = {
        ns.id: ns
        for ns in map(
            music_pb2.NoteSequence.FromString,
            tfrecord.read_tfrecord_file(str(golden_dir / "notesequences.tfrecord")),
        )
    }
    out = tmp_path / "out"
    report = convert_corpus(
        ConvertConfig(input=str(golden_dir / "midi"), output=str(out), parser=parser)
    )
    assert report.config.collection == "midi"  # Magenta's basename(input_dir)
    got = {ns.id: ns for ns in read_sequences(out)}
    assert set(got) == set(expected)
    for key, ns in expected.items():
        assert got[key] == ns, f"{ns.filename} differs from Magenta's NoteSequence"
    stats = read_json(out / layout.STATS)
    assert (stats["inputs"], stats["converted"], stats["failed"], stats["skipped"]) == (9, 8, 1, 0)
    assert stats["reasons"]["failed"] == {"data_byte_out_of_range": 1}
    failures = read_failures(out)
    assert failures["ValueError_Control168.mid"]["reason"] == "data_byte_out_of_range"
    assert "data byte must be in range" in failures["ValueError_Control168.mid"]["message"]


def test_rerun_overwrites_and_replanning_removes_stale_shards(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = ConvertConfig(input=str(tmp_path / "corpus"), output=str(out), files_per_shard=5)
    shutil.copytree(Path(__file__).parents[2] / "data" / "sample-corpus", tmp_path / "corpus")
    first = convert_corpus(cfg)
    ids_first = sorted(ns.id for ns in read_sequences(out))
    assert len(first.shards) == 5
    assert len(ids_first) == 24
    second = convert_corpus(cfg)
    assert second.shards == first.shards
    assert sorted(ns.id for ns in read_sequences(out)) == ids_first
    third = convert_corpus(ConvertConfig(input=cfg.input, output=cfg.output, files_per_shard=10))
    assert third.stale_shards_removed == 5
    ids_third = sorted(ns.id for ns in read_sequences(out))
    assert ids_third == ids_first, "re-planned output must hold each sequence exactly once"


AWKWARD_NAMES = [
    "ünïcödé 曲.mid",
    "with space.MID",
    "shell $HOME `id` 'q' & ; #.midi",
    "deep/er/nest/ed.MIDI",
]


def test_awkward_file_names_convert(tmp_path: Path) -> None:
    source = next((Path(__file__).parents[2] / "data" / "sample-corpus" / "pop909").iterdir())
    corpus = tmp_path / "corpus"
    for name in AWKWARD_NAMES:
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, corpus / name)
    report = convert_corpus(ConvertConfig(input=str(corpus), output=str(tmp_path / "out")))
    assert report.stats.converted == len(AWKWARD_NAMES)
    assert sorted(ns.filename for ns in read_sequences(tmp_path / "out")) == sorted(AWKWARD_NAMES)


def test_oversized_files_are_skipped_and_counted(tmp_path: Path) -> None:
    corpus = Path(__file__).parents[2] / "data" / "sample-corpus"
    report = convert_corpus(
        ConvertConfig(input=str(corpus), output=str(tmp_path / "out"), max_file_bytes=12_000)
    )
    s = report.stats
    assert s.skipped > 0
    assert s.converted > 0
    assert s.inputs == s.converted + s.failed + s.skipped == 24
    rows = read_failures(tmp_path / "out")
    assert len(rows) == s.skipped
    assert {r["reason"] for r in rows.values()} == {"too_large"}
