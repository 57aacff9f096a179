"""The examples job on a real embedded Ray: golden parity, compact decoding, bad input, re-runs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from musicgen import storage
from musicgen.config import ConvertConfig, ExamplesConfig
from musicgen.corpus.pipeline import convert_corpus
from musicgen.encodings.performance_configs import CONFIGS, get_config
from musicgen.examples.pipeline import make_examples
from musicgen.storage import layout, tfrecord
from tests.conftest import in_testdata
from tests.fixtures.golden import golden_records, golden_stats, sequence_example

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]

SAMPLE = Path(__file__).parents[2] / "data" / "sample-corpus"


def shard_records(out: Path | str, split: str) -> list[bytes]:
    """Every record of one split, in shard order."""
    folder = storage.join(str(out), split)
    uris = sorted(
        i.uri
        for i in storage.list_files(folder)
        if layout.is_example_shard(storage.basename(i.uri))
    )
    return [r for uri in uris for r in tfrecord.read_tfrecord_file(uri)]


def read_json(uri: Path | str) -> dict:
    return json.loads(storage.read_bytes(str(uri)))


def failure_rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / layout.FAILURES).read_text().splitlines()]


@pytest.fixture(scope="module")
def golden_input(golden_dir: Path) -> str:
    """Magenta's own NoteSequence file, in Magenta's input order."""
    return str(golden_dir / "notesequences.tfrecord")


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_magenta_format_equals_magentas_eval_records(
    name: str, golden_input: str, golden_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ex"
    report = make_examples(
        ExamplesConfig(input=golden_input, output=str(out), encoding=name, format="magenta",
                       eval_ratio=1.0)
    )  # fmt: skip
    ours = shard_records(out, "eval")
    golden = golden_records(
        golden_dir / name / "all_eval_eval_ratio_1" / "eval_performances.tfrecord.gz"
    )
    assert len(ours) == len(golden)
    for i, (a, b) in enumerate(zip(ours, golden, strict=True)):
        assert sequence_example(a) == sequence_example(b), f"record {i}"
    assert shard_records(out, "train") == []
    assert (out / "eval" / "eval_performances-00000-of-00001.tfrecord").exists()
    expected = golden_stats(golden_dir / "pipeline_stats" / f"{name}__all_eval_eval_ratio_1.txt")
    assert report.stats.pipeline == expected
    assert read_json(out / "stats.json")["pipeline_statistics"] == dict(sorted(expected.items()))


@pytest.mark.parametrize("name", ["performance", "performance_with_dynamics"])
def test_magenta_format_training_branch_equals_magenta(
    name: str, golden_input: str, golden_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ex"
    report = make_examples(
        ExamplesConfig(input=golden_input, output=str(out), encoding=name, format="magenta",
                       eval_ratio=0.0)
    )  # fmt: skip
    path = golden_dir / name / "all_training_eval_ratio_0" / "training_performances.tfrecord.gz"
    golden = golden_records(path)
    ours = shard_records(out, "train")
    assert len(ours) == len(golden) == 546
    for i, (a, b) in enumerate(zip(ours, golden, strict=True)):
        assert sequence_example(a) == sequence_example(b), f"record {i}"
    stats_file = golden_dir / "pipeline_stats" / f"{name}__all_training_eval_ratio_0.txt"
    assert report.stats.pipeline == golden_stats(stats_file)


@pytest.mark.parametrize(
    "name", ["performance_with_dynamics", "optional_multiconditioned_performance_with_dynamics",
             "performance_with_dynamics_and_note_encoding"]
)  # fmt: skip
def test_compact_records_decode_to_magentas_pairs(
    name: str, golden_input: str, golden_dir: Path, tmp_path: Path
) -> None:
    from musicgen.examples.compact_format import decode_performance

    out = tmp_path / "ex"
    make_examples(
        ExamplesConfig(input=golden_input, output=str(out), encoding=name, eval_ratio=1.0)
    )
    config = get_config(name)
    golden = golden_records(
        golden_dir / name / "all_eval_eval_ratio_1" / "eval_performances.tfrecord.gz"
    )
    ours = shard_records(out, "eval")
    assert len(ours) == len(golden)
    for i, (record, reference) in enumerate(zip(ours, golden, strict=True)):
        inputs, labels = decode_performance(record, config)
        lists = sequence_example(reference).feature_lists.feature_list
        want_inputs = np.array([f.float_list.value for f in lists["inputs"].feature], np.float32)
        want_labels = np.array([f.int64_list.value for f in lists["labels"].feature], np.int64)
        assert np.array_equal(np.asarray(inputs, np.float32), want_inputs), f"record {i}"
        assert np.array_equal(np.asarray(labels).reshape(want_labels.shape), want_labels)
    magenta_bytes = sum(len(r) for r in golden)
    assert magenta_bytes / sum(len(r) for r in ours) >= 50
    info = read_json(out / "encoding.json")
    assert (info["name"], info["format"]) == (name, "compact")


def _note(ns: music_pb2.NoteSequence, pitch: int, start: float, end: float, **kw: object) -> None:
    note = ns.notes.add(pitch=pitch, start_time=start, end_time=end, velocity=80, **kw)
    ns.total_time = max(ns.total_time, note.end_time)


def hostile_shard(path: Path, golden_input: str) -> None:
    """Good, corrupt, unparsable, 6-hour, drums-only and empty sequences, and a cut-off tail."""
    golden = {
        ns.filename: ns
        for ns in map(music_pb2.NoteSequence.FromString,
                      tfrecord.read_tfrecord_file(golden_input))
    }  # fmt: skip
    good = golden["cut_bach.mid"].SerializeToString()
    drums = golden["example_is_drum.mid"].SerializeToString()
    long_note = music_pb2.NoteSequence(id="/id/test/six_hours", filename="six_hours.mid")
    _note(long_note, 60, 0.0, 6 * 3600.0)
    empty = music_pb2.NoteSequence(id="/id/test/empty", filename="empty.mid")
    corrupt = bytearray(tfrecord.encode_record(good))
    corrupt[20] ^= 0xFF
    data = b"".join([
        tfrecord.encode_record(good),
        bytes(corrupt),
        tfrecord.encode_record(b"\x0a\xff\xff\xff\xff\xff"),  # framing fine, not a proto
        tfrecord.encode_record(long_note.SerializeToString()),
        tfrecord.encode_record(drums),
        tfrecord.encode_record(empty.SerializeToString()),
        tfrecord.encode_record(good)[:10],  # the writer died mid-record
    ])  # fmt: skip
    path.write_bytes(data)


def test_bad_input_is_counted_with_reasons_and_the_rest_converts(
    golden_input: str, tmp_path: Path
) -> None:
    source = tmp_path / "seq" / "hostile.tfrecord"
    source.parent.mkdir()
    hostile_shard(source, golden_input)
    out = tmp_path / "ex"
    report = make_examples(
        ExamplesConfig(input=str(source.parent), output=str(out), eval_ratio=1.0,
                       max_failure_ratio=1.0)
    )  # fmt: skip
    s = report.stats
    assert (s.inputs, s.converted, s.skipped, s.failed) == (7, 3, 1, 3)
    assert s.reasons["failed"] == {"corrupt_record": 2, "bad_notesequence": 1}
    assert s.reasons["skipped"] == {"no_notes": 1}
    rows = failure_rows(out)
    assert len(rows) == 4
    assert all(r["uri"] == str(source) for r in rows)
    assert {r["record"] for r in rows if r["reason"] == "corrupt_record"} == {1, 6}
    assert [r["id"] for r in rows if r["outcome"] == "skipped"] == ["/id/test/empty"]
    # The 6-hour note: one 30 s chunk is long enough, the other 719 are empty and too short.
    key = "DAGPipeline_PerformanceExtractor_eval_performances_discarded_too_short"
    assert s.pipeline[key] >= 719
    stats = read_json(out / "stats.json")
    assert stats["inputs"] == stats["converted"] + stats["skipped"] + stats["failed"]


def test_six_hour_note_with_full_augmentation_stays_small(tmp_path: Path) -> None:
    """Memory is bounded by one chunk, not by the length of a sequence."""
    import tracemalloc

    from musicgen.examples.shard import ExamplesTask, make_examples_shard

    ns = music_pb2.NoteSequence(id="/id/test/six_hours", filename="six_hours.mid")
    _note(ns, 60, 0.0, 6 * 3600.0)
    _note(ns, 64, 3 * 3600.0, 3 * 3600.0 + 1)
    source = tmp_path / "long.tfrecord"
    tfrecord.write_tfrecord_file(str(source), [ns.SerializeToString()])
    task = ExamplesTask(0, 1, str(source), str(tmp_path / "ex"), "performance_with_dynamics",
                        eval_ratio=0.0)  # fmt: skip
    tracemalloc.start()
    try:
        result = make_examples_shard(task)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.stats.converted == 1
    # As Magenta (checked with the reference pipeline): chunk 0 of every stretch, and at 1.025
    # the 1 s note, which float rounding of 3 h x 1.025 puts just inside chunk 368; 7 keys each.
    assert result.stats.examples["train"] == 6 * 7
    assert peak < 64 * 1024 * 1024


def test_compact_on_a_converted_corpus_splits_by_id_and_reruns_identically(
    tmp_path: Path,
) -> None:
    sequences = tmp_path / "seq"
    convert_corpus(ConvertConfig(input=str(SAMPLE), output=str(sequences), files_per_shard=8))
    out = tmp_path / "ex"
    cfg = ExamplesConfig(input=str(sequences), output=str(out), eval_ratio=0.25)
    report = make_examples(cfg)
    s = report.stats
    assert s.inputs == 24
    assert s.consistent
    assert s.failed == 0
    assert s.sequences_by_split["eval"] >= 1
    assert s.sequences_by_split["train"] >= 1
    from musicgen.examples.compact_format import parse_performance

    ids = {
        split: {parse_performance(r).id for r in shard_records(out, split)}
        for split in ("train", "eval")
    }
    assert ids["train"].isdisjoint(ids["eval"])  # no piece on both sides
    assert len(ids["train"]) + len(ids["eval"]) == s.converted
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == sorted(
        ["encoding.json", "failures.jsonl", "stats.json"]
        + [
            f"{split}/examples-{i:05d}-of-00003.tfrecord"
            for split in ("train", "eval")
            for i in range(3)
        ]
    )
    before = {n: (out / n).read_bytes() for n in names if n.endswith(".tfrecord")}
    # Same input, same plan: identical bytes. Fewer input shards: the old names disappear.
    make_examples(cfg)
    assert {n: (out / n).read_bytes() for n in before} == before
    for extra in ("notesequences-00001-of-00003.tfrecord", "notesequences-00002-of-00003.tfrecord"):
        (sequences / extra).unlink()
    rerun = make_examples(cfg)
    assert rerun.stale_shards_removed == 6  # every name of the 3-shard plan
    assert sorted(p.name for p in (out / "train").iterdir()) == ["examples-00000-of-00001.tfrecord"]


def test_pianoroll_from_gcs_to_gcs_with_a_chord_vocabulary(gcs_bucket: str, tmp_path: Path) -> None:
    from musicgen.encodings.chords import ChordVocabulary
    from musicgen.examples.compact_format import decode_pianoroll

    local = tmp_path / "seq"
    convert_corpus(ConvertConfig(input=str(SAMPLE), output=str(local), files_per_shard=12))
    sequences = storage.join(gcs_bucket, "sequences")
    for path in sorted(local.glob("*.tfrecord")):
        storage.upload_file(str(path), storage.join(sequences, path.name))
    out = storage.join(gcs_bucket, "examples", "pianoroll")
    report = make_examples(
        ExamplesConfig(input=sequences, output=out, encoding="pianoroll", eval_ratio=0.2)
    )
    assert report.stats.converted == 24
    vocabulary = ChordVocabulary.from_json(
        storage.read_bytes(storage.join(out, "chords.json")).decode()
    )
    assert vocabulary.size > 100
    assert report.chord_vocabulary_size == vocabulary.size
    frames, onsets = decode_pianoroll(shard_records(out, "train")[0])
    assert frames.shape[1] == 88
    assert frames.any()
    assert not (onsets & ~frames).any()
    info = read_json(storage.join(out, "encoding.json"))
    assert (info["name"], info["steps_per_quarter"]) == ("pianoroll", 4)


def test_benchmark_pickle_keeps_its_official_splits(tmp_path: Path) -> None:
    from musicgen.examples.compact_format import decode_pianoroll
    from musicgen.examples.polyphonic import load_polyphonic

    pickle = in_testdata("datasets", "polyphonic", "JSB_Chorales.pickle")
    out = tmp_path / "jsb"
    report = make_examples(ExamplesConfig(input=str(pickle), output=str(out), encoding="pianoroll"))
    assert dict(report.stats.examples) == {"train": 229, "valid": 76, "test": 77}
    original = load_polyphonic(pickle)
    test = shard_records(out, "test")
    frames, _ = decode_pianoroll(test[5])
    assert np.array_equal(frames, original["test"][5])
    info = read_json(out / "encoding.json")
    assert info["splits"] == ["train", "valid", "test"]
    assert info["steps_per_quarter"] == 1
    assert (out / "chords.json").exists()


@pytest.fixture(scope="module")
def jsb_plain_and_augmented(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    """JSB Chorales made with the default (no augmentation) and with ``augment=True``."""
    pickle = in_testdata("datasets", "polyphonic", "JSB_Chorales.pickle")
    root = tmp_path_factory.mktemp("jsb")
    plain, augmented = root / "plain", root / "augmented"
    make_examples(ExamplesConfig(input=str(pickle), output=str(plain), encoding="pianoroll"))
    report = make_examples(
        ExamplesConfig(input=str(pickle), output=str(augmented), encoding="pianoroll",
                       augment=True)
    )  # fmt: skip
    return plain, augmented, report


def test_benchmark_pickle_is_not_augmented_by_default(
    jsb_plain_and_augmented: tuple[Path, Path, Any],
) -> None:
    from musicgen.examples.benchmark_datasets import onsets_from_frames
    from musicgen.examples.compact_format import serialize_pianoroll
    from musicgen.examples.polyphonic import MIN_PITCH, load_polyphonic

    plain, _, _ = jsb_plain_and_augmented
    original = load_polyphonic(in_testdata("datasets", "polyphonic", "JSB_Chorales.pickle"))
    # The records the writer made before augmentation existed: one per piece, as given.
    expected = [
        serialize_pianoroll((f, onsets_from_frames(f)), id=f"/id/benchmark/JSB_Chorales/train/"
                            f"{i:04d}", split="train", steps_per_quarter=1, min_pitch=MIN_PITCH)
        for i, f in enumerate(original["train"])
    ]  # fmt: skip
    assert shard_records(plain, "train") == expected
    assert read_json(plain / "encoding.json")["transpositions"] == [0]


def test_augmented_benchmark_adds_transposed_training_copies_only(
    jsb_plain_and_augmented: tuple[Path, Path, Any],
) -> None:
    from musicgen.encodings.augment import TRAINING_TRANSPOSITIONS
    from musicgen.encodings.chords import ChordVocabulary, count_chords
    from musicgen.examples.benchmark_datasets import onsets_from_frames
    from musicgen.examples.compact_format import parse_pianoroll
    from musicgen.examples.polyphonic import load_polyphonic

    plain, augmented, report = jsb_plain_and_augmented
    for split in ("valid", "test"):
        assert shard_records(augmented, split) == shard_records(plain, split)
    original = load_polyphonic(in_testdata("datasets", "polyphonic", "JSB_Chorales.pickle"))
    records = [parse_pianoroll(r) for r in shard_records(augmented, "train")]
    written: dict[int, list[int]] = {}
    chords: Counter[tuple[int, ...]] = Counter()
    for rec in records:
        piece, _, suffix = rec.id.removeprefix("/id/benchmark/JSB_Chorales/train/").partition("/")
        assert suffix == ("" if rec.transpose == 0 else f"t{rec.transpose:+d}")
        source, k = original["train"][int(piece)], rec.transpose
        # Independent of transpose_frames: every column moved by k, none lost.
        assert rec.frames.sum() == source.sum()
        assert np.array_equal(rec.frames[:, max(k, 0) : 88 + min(k, 0)],
                              source[:, max(-k, 0) : 88 + min(-k, 0)])  # fmt: skip
        assert np.array_equal(rec.onsets, onsets_from_frames(rec.frames))
        written.setdefault(int(piece), []).append(k)
        chords.update(count_chords(rec.frames))
    assert list(written) == list(range(len(original["train"])))  # by piece, then by shift
    assert all(shifts == sorted(shifts) and 0 in shifts for shifts in written.values())
    stats = report.stats
    dropped = stats.pipeline["transpositions_off_keyboard"]
    assert len(records) == len(original["train"]) * len(TRAINING_TRANSPOSITIONS) - dropped
    assert dict(stats.examples) == {"train": len(records), "valid": 76, "test": 77}
    assert stats.inputs == stats.converted == 229 + 76 + 77
    assert stats.consistent
    info = read_json(augmented / "encoding.json")
    assert info["transpositions"] == list(TRAINING_TRANSPOSITIONS)
    vocabulary = ChordVocabulary.from_json((augmented / "chords.json").read_text())
    assert dict(zip(vocabulary.chords, vocabulary.counts, strict=True)) == chords


def test_missing_input_and_bad_encoding_are_config_errors(tmp_path: Path) -> None:
    from musicgen.errors import ConfigError

    with pytest.raises(ConfigError, match="no NoteSequence TFRecords"):
        make_examples(ExamplesConfig(input=str(tmp_path / "none"), output=str(tmp_path / "o")))
    with pytest.raises(ConfigError, match="unknown encoding 'melody'"):
        make_examples(
            ExamplesConfig(input=str(tmp_path), output=str(tmp_path / "o"), encoding="melody")
        )
    with pytest.raises(ConfigError, match="magenta exists only"):
        make_examples(ExamplesConfig(input=str(tmp_path), output=str(tmp_path / "o"),
                                     encoding="pianoroll", format="magenta"))  # fmt: skip
