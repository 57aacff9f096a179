"""Compact records: decode to exactly Magenta's (inputs, labels), at a fraction of the bytes."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from musicgen.encodings import pianoroll
from musicgen.encodings.augment import Example, encode_events, magenta_pipeline
from musicgen.encodings.performance_configs import CONFIGS, PerformanceConfig, get_config
from musicgen.errors import InputError
from musicgen.examples.compact_format import (
    decode_performance,
    decode_pianoroll,
    parse_performance,
    parse_pianoroll,
    parse_sequence_example,
    serialize_example,
    serialize_performance,
    serialize_pianoroll,
)
from musicgen.storage.tfrecord import read_records

ALL = sorted(CONFIGS)
# Per-config floors of magenta bytes / compact bytes (measured: 177-200 for one-hot inputs,
# 98 note encoding, 9.4 modulo, 2.2 for the compact encoding's single float).
MIN_RATIO = {
    "performance_with_dynamics_compact": 2.0,
    "performance_with_dynamics_and_modulo_encoding": 9.0,
    "performance_with_dynamics_and_note_encoding": 90.0,
}


@pytest.fixture(scope="module")
def golden_sequences(golden_dir: Path) -> list[music_pb2.NoteSequence]:
    data = (golden_dir / "notesequences.tfrecord").read_bytes()
    return [music_pb2.NoteSequence.FromString(r) for r in read_records(data)]


def _examples(
    seqs: list[music_pb2.NoteSequence], config: PerformanceConfig, training: bool
) -> list[tuple[str, Example]]:
    return [(ns.id, e) for ns in seqs for e in magenta_pipeline(ns, config, training)]


def _golden(path: Path) -> Iterator[bytes]:
    with gzip.open(path, "rb") as f:
        yield from read_records(f, uri=str(path))


def _magenta_pair(record: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Magenta's inputs (float32, as stored) and labels, parsed from the golden record."""
    parsed = parse_sequence_example(record)
    assert set(parsed.feature_lists) == {"inputs", "labels"}
    assert parsed.context == {}
    inputs = np.array(parsed.feature_lists["inputs"], np.float32)
    labels = np.array(parsed.feature_lists["labels"], np.int64)
    return inputs, labels[:, 0] if labels.shape[1] == 1 else labels


def _assert_compact_equals_golden(
    path: Path, examples: list[tuple[str, Example]], config: PerformanceConfig, split: str
) -> tuple[int, int]:
    """Every golden record equals our compact record's decoding; returns both byte totals."""
    magenta_bytes = compact_bytes = count = 0
    for i, (record, (source, example)) in enumerate(zip(_golden(path), examples, strict=True)):
        compact = serialize_example(example, config, id=source, split=split)
        inputs, labels = decode_performance(compact, config, uri=f"record {i}")
        want_inputs, want_labels = _magenta_pair(record)
        assert inputs.dtype == np.float32
        assert inputs.shape == (len(example.events) - 1, config.input_size)
        assert np.array_equal(inputs, want_inputs), f"{config.name} record {i} inputs"
        assert np.array_equal(labels, want_labels), f"{config.name} record {i} labels"
        magenta_bytes += len(record)
        compact_bytes += len(compact)
        count += 1
    assert count == len(examples)
    return magenta_bytes, compact_bytes


@pytest.mark.parametrize("name", ALL)
def test_all_eval_compact_decodes_to_magenta_records(
    name: str, golden_dir: Path, golden_sequences: list[music_pb2.NoteSequence]
) -> None:
    config = get_config(name)
    path = golden_dir / name / "all_eval_eval_ratio_1" / "eval_performances.tfrecord.gz"
    examples = _examples(golden_sequences, config, training=False)
    magenta, compact = _assert_compact_equals_golden(path, examples, config, "eval")
    assert magenta / compact >= MIN_RATIO.get(name, 150.0)


def test_all_eval_size_ratio(
    golden_dir: Path, golden_sequences: list[music_pb2.NoteSequence]
) -> None:
    """Magenta's bytes over ours, the 9 configs' all-eval files together (uncompressed)."""
    magenta = compact = 0
    for name in ALL:
        config = get_config(name)
        path = golden_dir / name / "all_eval_eval_ratio_1" / "eval_performances.tfrecord.gz"
        magenta += sum(len(r) for r in _golden(path))
        compact += sum(
            len(serialize_example(e, config, id=source, split="eval"))
            for source, e in _examples(golden_sequences, config, training=False)
        )
    assert magenta / compact >= 50  # measured: 148 (80.4 MB vs 0.54 MB)


def test_all_training_compact_decodes_to_magenta_records(
    golden_dir: Path, golden_sequences: list[music_pb2.NoteSequence]
) -> None:
    config = get_config("performance_with_dynamics")
    path = (
        golden_dir / config.name / "all_training_eval_ratio_0" / "training_performances.tfrecord.gz"
    )
    examples = _examples(golden_sequences, config, training=True)
    assert len(examples) == 546
    magenta, compact = _assert_compact_equals_golden(path, examples, config, "train")
    assert magenta / compact >= 50  # measured: 191.6 (372.8 MB vs 1.95 MB)


@pytest.mark.parametrize("name", ALL)
def test_bytes_equal_tensorflow_deterministic_serialization(
    name: str, golden_sequences: list[music_pb2.NoteSequence]
) -> None:
    from tensorflow.core.example import example_pb2

    config = get_config(name)
    examples = _examples(golden_sequences[:2], config, training=True)[:3]
    for source, example in examples:
        record = serialize_example(example, config, id=source, split="train")
        proto = example_pb2.SequenceExample.FromString(record)
        assert proto.SerializeToString(deterministic=True) == record
        context = proto.context.feature
        assert context["encoding"].bytes_list.value == [name.encode()]
        assert context["id"].bytes_list.value == [source.encode()]
        assert context["split"].bytes_list.value == [b"train"]
        assert context["transpose"].int64_list.value == [example.transpose]
        assert context["chunk"].int64_list.value == [example.chunk_index]
        assert context["stretch"].float_list.value[0] == np.float32(example.stretch_factor)
        assert ("conditioned" in context) == config.optional_conditioning
        tokens = proto.feature_lists.feature_list["tokens"].feature
        assert len(tokens) == len(example.events)
        width = 6 if config.note_performance else 1
        assert all(len(t.int64_list.value) == width for t in tokens)


def test_parse_keeps_the_origin(golden_sequences: list[music_pb2.NoteSequence]) -> None:
    config = get_config("optional_multiconditioned_performance_with_dynamics")
    examples = _examples(golden_sequences[:1], config, training=True)
    source, example = next((s, e) for s, e in examples if e.transpose < 0)
    record = parse_performance(serialize_example(example, config, id=source, split="train"))
    assert (record.id, record.split, record.encoding) == (source, "train", config.name)
    assert record.transpose == example.transpose < 0
    assert record.chunk == example.chunk_index
    assert record.stretch == pytest.approx(example.stretch_factor, rel=1e-7)
    assert record.conditioned is example.conditioned
    assert np.array_equal(record.tokens, example.events)


def test_conditioned_flag_selects_the_pair() -> None:
    config = get_config("optional_multiconditioned_performance_with_dynamics")
    events = np.array([356 + 10, 60, 256 + 50, 188, 64, 256 + 100, 192], np.int64)
    pairs = encode_events(events, config)
    for (inputs, labels, flag), conditioned in zip(pairs, (True, False), strict=True):
        assert flag is conditioned
        record = serialize_performance(
            events, config, id="x", split="train", conditioned=conditioned
        )
        got_inputs, got_labels = decode_performance(record, config)
        assert np.array_equal(got_inputs, inputs.astype(np.float32))
        assert np.array_equal(got_labels, labels)


def test_serialize_checks_the_events() -> None:
    plain, optional = (
        get_config("performance"),
        get_config("optional_multiconditioned_performance_with_dynamics"),
    )
    note = get_config("performance_with_dynamics_and_note_encoding")
    events = np.array([60, 256 + 10, 188], np.int64)
    with pytest.raises(ValueError, match="outside"):
        serialize_performance(np.array([60, 356]), plain, id="x", split="train")
    with pytest.raises(ValueError, match="at least 2"):
        serialize_performance(events[:1], plain, id="x", split="train")
    with pytest.raises(ValueError, match="needs `conditioned`"):
        serialize_performance(events, optional, id="x", split="train")
    with pytest.raises(ValueError, match="takes no `conditioned`"):
        serialize_performance(events, plain, id="x", split="train", conditioned=True)
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        serialize_performance(events, note, id="x", split="train")
    with pytest.raises(ValueError, match="note encoding's classes"):
        serialize_performance(np.array([[0, 60, 40, 10]] * 2), note, id="x", split="train")


def test_decode_errors_name_the_record() -> None:
    plain = get_config("performance")
    record = serialize_performance(np.array([60, 256 + 10, 188]), plain, id="x", split="train")
    with pytest.raises(InputError, match=r"shard-3\.tfrecord") as err:
        decode_performance(record, get_config("performance_with_dynamics"), uri="shard-3.tfrecord")
    assert err.value.reason == "encoding-mismatch"
    with pytest.raises(InputError, match=r"shard-3\.tfrecord") as err:
        decode_performance(record[:-3], plain, uri="shard-3.tfrecord")
    assert err.value.reason == "malformed"
    with pytest.raises(InputError, match="missing"):
        decode_performance(
            serialize_pianoroll((np.zeros((2, 88)),) * 2, id="x", split="t", steps_per_quarter=1),
            plain,
        )
    with pytest.raises(InputError, match="not a piano roll"):
        decode_pianoroll(record)


def _random_roll(rng: np.random.Generator, steps: int) -> tuple[np.ndarray, np.ndarray]:
    frames = rng.random((steps, 88)) < 0.08
    frames[steps // 2] = False  # a silent frame
    frames[-1] = False  # and a silent last frame: num_frames keeps it
    onsets = frames & (rng.random((steps, 88)) < 0.5)
    return frames, onsets


def test_pianoroll_round_trip_and_tensorflow_bytes() -> None:
    from tensorflow.core.example import example_pb2

    rng = np.random.default_rng(0)
    frames, onsets = _random_roll(rng, 40)
    record = serialize_pianoroll((frames, onsets), id="bwv1", split="valid", steps_per_quarter=2)
    got_frames, got_onsets = decode_pianoroll(record)
    assert got_frames.dtype == bool
    assert np.array_equal(got_frames, frames)
    assert np.array_equal(got_onsets, onsets)
    proto = example_pb2.SequenceExample.FromString(record)
    assert proto.SerializeToString(deterministic=True) == record
    context = proto.context.feature
    assert context["encoding"].bytes_list.value == [b"pianoroll"]
    assert context["num_frames"].int64_list.value == [40]
    assert context["num_pitches"].int64_list.value == [88]
    assert context["min_pitch"].int64_list.value == [21]
    assert context["steps_per_quarter"].int64_list.value == [2]
    pitches = proto.feature_lists.feature_list["pitches"].feature
    assert list(pitches[3].int64_list.value) == np.flatnonzero(frames[3]).tolist()
    assert list(pitches[39].int64_list.value) == []
    parsed = parse_pianoroll(record)
    assert (parsed.id, parsed.split, parsed.steps_per_quarter) == ("bwv1", "valid", 2)


def test_pianoroll_from_a_note_sequence(golden_sequences: list[music_pb2.NoteSequence]) -> None:
    roll = pianoroll.encode(golden_sequences[1], pianoroll.PianorollEncodingConfig(2))
    record = serialize_pianoroll(roll, id="mozart", split="train")
    rec = parse_pianoroll(record)
    assert rec.steps_per_quarter == 2
    assert rec.min_pitch == roll.min_pitch
    assert np.array_equal(rec.frames, roll.frames)
    assert np.array_equal(rec.onsets, roll.onsets)
    assert len(record) < roll.frames.size  # under a byte per roll cell (here ~18 per frame)


def test_pianoroll_argument_checks() -> None:
    with pytest.raises(ValueError, match="steps_per_quarter"):
        serialize_pianoroll((np.zeros((2, 88)),) * 2, id="x", split="train")
    with pytest.raises(ValueError, match="must be equal"):
        serialize_pianoroll(
            (np.zeros((2, 88)), np.zeros((3, 88))), id="x", split="train", steps_per_quarter=1
        )
