"""The one place that names artifacts inside an output folder (shards, stats, failures)."""

from __future__ import annotations

import re

STATS = "stats.json"
FAILURES = "failures.jsonl"
SEQUENCE_SHARD_PREFIX = "notesequences"
_SHARD_RE = re.compile(rf"^{SEQUENCE_SHARD_PREFIX}-\d{{5}}-of-\d{{5}}\.tfrecord$")


def sequence_shard_name(index: int, count: int) -> str:
    """`notesequences-00003-of-00010.tfrecord`; depends only on the plan, so re-runs overwrite."""
    if not 0 <= index < count:
        raise ValueError(f"shard index {index} out of range for {count} shards")
    return f"{SEQUENCE_SHARD_PREFIX}-{index:05d}-of-{count:05d}.tfrecord"


def is_sequence_shard(name: str) -> bool:
    """True for a file name that `sequence_shard_name` could have produced."""
    return bool(_SHARD_RE.match(name))


# Training examples: <output>/<split>/<prefix>-NNNNN-of-MMMMM.tfrecord, plus these beside them.
ENCODING = "encoding.json"
CHORD_VOCABULARY = "chords.json"
COMPACT_SHARD_PREFIX = "examples"
# Magenta's own file names (training_performances.tfrecord, eval_performances.tfrecord), sharded.
MAGENTA_SHARD_PREFIX = {"train": "training_performances", "eval": "eval_performances"}
_EXAMPLE_SHARD_RE = re.compile(
    rf"^({COMPACT_SHARD_PREFIX}|[a-z]+_performances)-\d{{5}}-of-\d{{5}}"
    r"\.tfrecord$"
)


def example_shard_name(split: str, index: int, count: int, magenta: bool = False) -> str:
    """`train/examples-00003-of-00010.tfrecord` (relative to the output folder)."""
    if not 0 <= index < count:
        raise ValueError(f"shard index {index} out of range for {count} shards")
    prefix = MAGENTA_SHARD_PREFIX.get(split, f"{split}_performances") if magenta else None
    return f"{split}/{prefix or COMPACT_SHARD_PREFIX}-{index:05d}-of-{count:05d}.tfrecord"


def is_example_shard(name: str) -> bool:
    """True for a base name that `example_shard_name` could have produced."""
    return bool(_EXAMPLE_SHARD_RE.match(name))
