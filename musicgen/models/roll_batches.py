"""The batches every piano-roll family trains on: windows of a roll dataset, per worker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from musicgen.encodings.chords import ChordVocabulary
from musicgen.examples.encoding_info import EncodingInfo
from musicgen.examples.readers import COMPACT_SHUFFLE_BUFFER, RollFeatures, pianoroll_dataset

if TYPE_CHECKING:
    import tensorflow as tf

    from musicgen.train.config import DataConfig


def roll_batches(
    files: Sequence[str],
    info: EncodingInfo,
    data: DataConfig,
    features: RollFeatures,
    *,
    batch_size: int,
    training: bool,
    seed: int,
    num_shards: int,
    shard_index: int,
    vocabulary: ChordVocabulary | None = None,
) -> tf.data.Dataset:
    """Windows (``data.window``/``data.hop``; None: whole pieces) with ``features``; shuffled
    and repeated for training, one ordered pass otherwise."""
    return pianoroll_dataset(
        files,
        info,
        batch_size=batch_size,
        window=data.window,
        hop=data.hop,
        features=features,
        vocabulary=vocabulary,
        shuffle=training,
        seed=seed,
        shuffle_buffer=data.shuffle_buffer or COMPACT_SHUFFLE_BUFFER,
        num_shards=num_shards,
        shard_index=shard_index,
        repeat=training,
    )
