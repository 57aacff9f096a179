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
