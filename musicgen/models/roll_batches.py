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


class RollWindows:
    """``ModelFamily.dataset`` for the piano-roll families: every one of them reads windows of one
    roll dataset, differing only in the features (``FEATURES``) and whether the batches carry
    chord ids (:meth:`vocabulary`)."""

    FEATURES: RollFeatures = "frames"

    def vocabulary(self, data: DataConfig) -> ChordVocabulary | None:
        """The vocabulary whose chord ids the batches carry; None: no chord ids."""
        return None

    def dataset(
        self,
        files: Sequence[str],
        info: EncodingInfo,
        data: DataConfig,
        *,
        batch_size: int,
        training: bool,
        seed: int,
        num_shards: int,
        shard_index: int,
    ) -> tf.data.Dataset:
        """Windows (``data.window``/``data.hop``; None: whole pieces) with this family's
        features (and chord ids, with a vocabulary), shuffled and repeated for training."""
        vocabulary = self.vocabulary(data)
        return roll_batches(
            files,
            info,
            data,
            "chords" if vocabulary is not None else self.FEATURES,
            batch_size=batch_size,
            training=training,
            seed=seed,
            num_shards=num_shards,
            shard_index=shard_index,
            vocabulary=vocabulary,
        )
