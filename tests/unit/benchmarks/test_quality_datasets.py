"""benchmarks/quality.py's example shards: reused only when they hold the augmentation asked for,
so a full-budget row never trains on a stale unaugmented set (or the other way round)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.quality import make_dataset, train_examples
from musicgen.encodings.augment import TRAINING_TRANSPOSITIONS
from tests.fixtures.tiny_family import JSB


def _transpositions(dataset: Path) -> list[int]:
    return list(json.loads((dataset / "encoding.json").read_text())["transpositions"])


def test_shards_are_rebuilt_when_the_augmentation_differs(tmp_path: Path) -> None:
    plain = make_dataset("JSB_Chorales", tmp_path, augment=False, source_dir=JSB.parent)
    assert _transpositions(plain) == [0]
    pieces = train_examples(plain)

    augmented = make_dataset("JSB_Chorales", tmp_path, augment=True, source_dir=JSB.parent)
    assert augmented == plain
    assert _transpositions(augmented) == list(TRAINING_TRANSPOSITIONS)
    # Every piece in 7 keys, less the copies that would leave the keyboard.
    assert pieces < train_examples(augmented) <= len(TRAINING_TRANSPOSITIONS) * pieces

    shard = augmented / "train" / "examples-00000-of-00001.tfrecord"
    written = shard.stat().st_mtime_ns
    make_dataset("JSB_Chorales", tmp_path, augment=True, source_dir=JSB.parent)
    assert shard.stat().st_mtime_ns == written, "matching shards are reused"

    make_dataset("JSB_Chorales", tmp_path, augment=False, source_dir=JSB.parent)
    assert train_examples(plain) == pieces
