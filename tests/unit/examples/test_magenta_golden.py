"""Golden parity: our pipeline's records equal Magenta's own, record for record."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from musicgen.encodings.augment import Example, magenta_pipeline
from musicgen.encodings.performance_configs import CONFIGS, get_config
from musicgen.examples.magenta_format import (
    make_sequence_example,
    serialize,
    serialize_sequence_example,
)
from musicgen.storage.tfrecord import read_records
from tests.fixtures.golden import golden_stats

ALL = sorted(CONFIGS)
GOLDEN_TRAINING_FILES = ("performance", "performance_with_dynamics")


@pytest.fixture(scope="module")
def golden_sequences(golden_dir: Path) -> list[music_pb2.NoteSequence]:
    data = (golden_dir / "notesequences.tfrecord").read_bytes()
    return [music_pb2.NoteSequence.FromString(r) for r in read_records(data)]


def _examples(seqs: list[music_pb2.NoteSequence], name: str, training: bool) -> list[Example]:
    return [e for ns in seqs for e in magenta_pipeline(ns, get_config(name), training)]


def _sequence_example_cls() -> Any:
    from tensorflow.core.example import example_pb2

    return example_pb2.SequenceExample


def _assert_records_equal(path: Path, examples: list[Example]) -> None:
    cls = _sequence_example_cls()
    count = 0
    with gzip.open(path, "rb") as f:
        for i, record in enumerate(read_records(f, uri=str(path))):
            assert i < len(examples), f"golden has more records than our {len(examples)}"
            ours = cls.FromString(serialize(examples[i]))
            assert ours == cls.FromString(record), f"record {i} differs"
            count += 1
    assert count == len(examples)


@pytest.mark.parametrize("name", ALL)
def test_all_eval_records_equal_magenta(
    name: str, golden_dir: Path, golden_sequences: list[music_pb2.NoteSequence]
) -> None:
    path = golden_dir / name / "all_eval_eval_ratio_1" / "eval_performances.tfrecord.gz"
    _assert_records_equal(path, _examples(golden_sequences, name, training=False))


def _training_params() -> list[Any]:
    params = []
    for name in GOLDEN_TRAINING_FILES:
        marks = [] if name == "performance_with_dynamics" else [pytest.mark.integration]
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.mark.parametrize("name", _training_params())
def test_all_training_records_equal_magenta(
    name: str, golden_dir: Path, golden_sequences: list[music_pb2.NoteSequence]
) -> None:
    path = golden_dir / name / "all_training_eval_ratio_0" / "training_performances.tfrecord.gz"
    _assert_records_equal(path, _examples(golden_sequences, name, training=True))


def _provenance_params() -> list[Any]:
    return [
        pytest.param(name, key, marks=[pytest.mark.integration] if "training" in key else [])
        for name in ALL
        for key in ("all_training_examples", "all_eval_examples")
    ]


@pytest.mark.parametrize(("name", "key"), _provenance_params())
def test_records_match_provenance_hashes_and_origins(
    name: str, key: str, golden_dir: Path, golden_sequences: list[music_pb2.NoteSequence]
) -> None:
    """Every config, both branches: sha256 of the deterministic bytes, and each origin."""
    expected = json.loads((golden_dir / name / "provenance.json").read_text())[key]
    examples = _examples(golden_sequences, name, training="training" in key)
    assert len(examples) == len(expected)
    for i, (ex, prov) in enumerate(zip(examples, expected, strict=True)):
        got = (ex.stretch_factor, ex.chunk_index, ex.transpose, len(ex.events))
        want = (prov["stretch_factor"], prov["chunk_index"], prov["transpose"], prov["num_events"])
        assert got == want, f"record {i}"
        assert len(ex.labels) == prov["sequence_length"]
        digest = hashlib.sha256(serialize(ex)).hexdigest()
        assert digest == prov["sha256_deterministic"], f"record {i}"


@pytest.mark.parametrize("name", ALL)
def test_eval_statistics_equal_magenta(
    name: str, golden_dir: Path, golden_sequences: list[music_pb2.NoteSequence]
) -> None:
    stats: Counter[str] = Counter()
    for ns in golden_sequences:
        for _ in magenta_pipeline(ns, get_config(name), training=False, stats=stats):
            pass
    path = golden_dir / "pipeline_stats" / f"{name}__all_eval_eval_ratio_1.txt"
    assert dict(stats) == dict(golden_stats(path))


@pytest.mark.integration
def test_training_statistics_equal_magenta(
    golden_dir: Path, golden_sequences: list[music_pb2.NoteSequence]
) -> None:
    stats: Counter[str] = Counter()
    config = get_config("performance")
    for ns in golden_sequences:
        for _ in magenta_pipeline(ns, config, training=True, stats=stats):
            pass
    path = golden_dir / "pipeline_stats" / "performance__all_training_eval_ratio_0.txt"
    assert dict(stats) == dict(golden_stats(path))


@pytest.mark.parametrize("name", ALL)
def test_byte_serializer_equals_tensorflow_proto(
    name: str, golden_sequences: list[music_pb2.NoteSequence]
) -> None:
    example = next(magenta_pipeline(golden_sequences[0], get_config(name), training=False))
    proto = make_sequence_example(example.inputs, example.labels)
    assert proto.SerializeToString(deterministic=True) == serialize(example)
    assert _sequence_example_cls().FromString(serialize(example)) == proto


def test_serializer_shape_checks_and_negative_labels() -> None:
    with pytest.raises(ValueError, match="labels"):
        serialize_sequence_example(np.zeros((2, 3)), np.zeros(3, dtype=np.int64))
    inputs = np.array([[0.5, -1.0], [1e-3, 2.0]])
    labels = np.array([[-1, 300], [2**40, 0]])
    proto = make_sequence_example(inputs, labels)
    assert proto.SerializeToString(deterministic=True) == serialize_sequence_example(inputs, labels)


def test_events_head_matches_provenance(
    golden_dir: Path, golden_sequences: list[music_pb2.NoteSequence]
) -> None:
    from musicgen.encodings.performance import ids_to_strings

    expected = json.loads(
        (golden_dir / "performance_with_dynamics" / "provenance.json").read_text()
    )
    examples = _examples(golden_sequences, "performance_with_dynamics", training=False)
    for ex, prov in zip(examples, expected["all_eval_examples"], strict=True):
        assert ids_to_strings(ex.events[:24]) == prov["events_head"]
