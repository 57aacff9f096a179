"""Train/eval assignment by a hash of the sequence id: stable across runs, machines and shards.

The split happens before augmentation, so every augmented copy of a piece lands on the side
the piece itself is on and nothing leaks from training into evaluation. Magenta draws one
unseeded ``random.random()`` per sequence instead, so its splits cannot be reproduced.
"""

from __future__ import annotations

import hashlib

TRAIN = "train"
EVAL = "eval"


def split_fraction(sequence_id: str) -> float:
    """A uniform number in [0, 1) fixed by the id: the first 8 bytes of its SHA-256."""
    digest = hashlib.sha256(sequence_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_split(sequence_id: str, eval_ratio: float) -> str:
    """``"eval"`` for about ``eval_ratio`` of all ids, else ``"train"``; 0 and 1 are exact."""
    if not 0.0 <= eval_ratio <= 1.0:
        raise ValueError(f"eval_ratio must be in [0, 1], got {eval_ratio}")
    return EVAL if split_fraction(sequence_id) < eval_ratio else TRAIN
