"""A chord-vocabulary LSTM: one softmax category per set of simultaneous notes.

Every frame is a class of the dataset's chord vocabulary (``chords.json``, written by the
examples job from the training split: id 0 out-of-vocabulary, id 1 silence, then chords by
frequency). An embedding and stacked LSTMs read the ids of frames ``0..T-2`` of a window and a
softmax predicts the ids of frames ``1..T-1`` (many-to-many); the first frame of a window is
never scored, as in the piano-roll families. The OOV class is an ordinary target class.

Where the vocabulary comes from: the model's ``build`` sees only the model config, so
``ModelConfig.chords`` names the file (``TrainConfig`` fills in ``<data.dataset>/chords.json``);
the model stores the vocabulary it was built with in its own config, so a ``.keras`` file
decodes ids to notes without the dataset. The batches carry the dataset's ids; ids beyond a
``max_chords``-capped model's classes are folded into OOV here (a capped vocabulary is a prefix
of the full one, which is ordered by frequency).

Units: ``chord_nll_per_frame`` is nats per scored frame over the chord classes. It is *not*
comparable to the 88-key Bernoulli NLL of the papers (a different event space, and OOV frames
count as one class), so it is not reported as ``nll_per_frame``; ``accuracy`` is the share of
frames whose most likely class is the true one, ``oov_rate`` the share of OOV targets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import keras
import tensorflow as tf

from musicgen import storage
from musicgen.encodings.chords import OOV_ID, ChordVocabulary
from musicgen.errors import ConfigError, ObjectNotFound
from musicgen.examples.encoding_info import EncodingInfo
from musicgen.models import losses
from musicgen.models.configs.base import narrowed
from musicgen.models.configs.chord_lstm import ChordLSTMConfig
from musicgen.models.family import LOSS_SUM, NLL_SUM, NLL_WEIGHT, WEIGHT
from musicgen.models.pianoroll_lstm import ratio
from musicgen.models.roll_batches import RollWindows
from musicgen.storage import layout

if TYPE_CHECKING:
    from musicgen.models.configs import ModelConfig
    from musicgen.train.config import DataConfig


def read_vocabulary(uri: str, max_chords: int | None = None) -> ChordVocabulary:
    """The vocabulary at ``uri``, capped to its ``max_chords`` most frequent classes.

    Raises:
        ConfigError: The file is missing or is not a chord vocabulary (names the path).
    """
    try:
        vocabulary = ChordVocabulary.from_json(storage.read_bytes(uri).decode("utf-8"))
    except ObjectNotFound as exc:
        raise ConfigError(
            f"chord_lstm: no chord vocabulary at {uri} (the examples job writes "
            f"{layout.CHORD_VOCABULARY} beside piano-roll shards): {exc}"
        ) from exc
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"chord_lstm: {uri} is not a chord vocabulary: {exc}") from exc
    if max_chords is None or max_chords >= vocabulary.size:
        return vocabulary
    return ChordVocabulary.from_counts(
        dict(zip(vocabulary.chords, vocabulary.counts, strict=True)),
        max_size=max_chords,
        min_pitch=vocabulary.min_pitch,
        num_pitches=vocabulary.num_pitches,
    )


def model_vocabulary(
    family: str, uri: str | None, max_chords: int | None, info: EncodingInfo
) -> ChordVocabulary:
    """The vocabulary a chord model is built over: ``uri`` capped to ``max_chords``, checked
    against the examples' pitch range.

    Raises:
        ConfigError: No file named, or its pitch range is not the data's (names the family).
    """
    if not uri:
        raise ConfigError(
            f"{family}: model.chords is not set (TrainConfig sets it to "
            f"<data.dataset>/{layout.CHORD_VOCABULARY})"
        )
    vocabulary = read_vocabulary(uri, max_chords)
    if (vocabulary.min_pitch, vocabulary.num_pitches) != (info.min_pitch, info.num_pitches):
        raise ConfigError(f"{family}: {uri} has another pitch range than the data")
    return vocabulary


@keras.saving.register_keras_serializable(package="musicgen")
class ChordLSTM(keras.Model):
    """Chord ids ``[B, T]`` to next-chord logits ``[B, T, C]`` (float32).

    Args:
        vocabulary: The vocabulary's JSON (:meth:`ChordVocabulary.to_json`); C is its size.
        embedding_dim: Width of the chord embedding.
        layers: LSTM sizes.
        dropout: Output dropout after each LSTM.
    """

    def __init__(
        self,
        vocabulary: str,
        embedding_dim: int = 64,
        layers: Sequence[int] = (256, 256),
        dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        num_classes = ChordVocabulary.from_json(vocabulary).size
        # === Functional Model ===
        inputs = keras.Input((None,), dtype="int32", name="chords")
        x = keras.layers.Embedding(num_classes, embedding_dim, name="embedding")(inputs)
        for i, size in enumerate(layers):
            # The defaults (tanh, sigmoid, no recurrent dropout, no unroll) keep cuDNN eligible.
            x = keras.layers.LSTM(
                size, return_sequences=True, unit_forget_bias=True, name=f"lstm_{i}"
            )(x)
            if dropout > 0:
                x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
        logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        # === Config ===
        self.vocabulary_json = vocabulary
        self.num_classes = int(num_classes)
        self.embedding_dim = int(embedding_dim)
        self.layer_sizes = tuple(int(s) for s in layers)
        self.dropout = float(dropout)

    @cached_property
    def vocabulary(self) -> ChordVocabulary:
        """The vocabulary the model was built with (decodes its classes to frames)."""
        return ChordVocabulary.from_json(self.vocabulary_json)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "vocabulary": self.vocabulary_json,
            "embedding_dim": self.embedding_dim,
            "layers": list(self.layer_sizes),
            "dropout": self.dropout,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ChordLSTM:
        return cls(**config)


class ChordLSTMFamily(RollWindows):
    """The ``chord_lstm`` family (see the module docstring)."""

    FEATURES = "chords"

    def vocabulary(self, data: DataConfig) -> ChordVocabulary:
        """The dataset's ``chords.json``: batches carry its chord ids."""
        return read_vocabulary(storage.join(data.dataset, layout.CHORD_VOCABULARY))

    name = "chord_lstm"

    def build(self, cfg: ModelConfig, info: EncodingInfo) -> keras.Model:
        """A built ChordLSTM over the vocabulary ``cfg.chords`` (capped to ``max_chords``)."""
        cfg = narrowed(cfg, ChordLSTMConfig)
        if info.family != "pianoroll":
            raise ConfigError(f"chord_lstm needs piano-roll examples, got {info.name!r}")
        vocabulary = model_vocabulary("chord_lstm", cfg.chords, cfg.max_chords, info)
        return ChordLSTM(
            vocabulary=vocabulary.to_json(),
            embedding_dim=cfg.embedding_dim,
            layers=cfg.layers,
            dropout=cfg.dropout,
            name="chord_lstm",
        )

    def batch_stats(
        self, model: keras.Model, batch: Mapping[str, tf.Tensor], training: bool
    ) -> dict[str, tf.Tensor]:
        """Softmax cross-entropy of every next chord, accuracy and OOV counts, as sums."""
        ids = tf.cast(batch["chords"], tf.int32)
        ids = tf.where(ids < model.num_classes, ids, OOV_ID)  # a capped model's OOV
        mask = tf.cast(batch["mask"], tf.float32)[:, 1:]
        targets = ids[:, 1:]
        logits = model(ids[:, :-1], training=training)
        nll = losses.masked_sparse_ce_sum(targets, logits, mask)
        correct = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), targets),
                          tf.float32)  # fmt: skip
        weight = tf.reduce_sum(mask)
        return {
            LOSS_SUM: nll,
            WEIGHT: weight,
            NLL_SUM: nll,
            NLL_WEIGHT: weight,
            "correct": losses.masked_sum(correct, mask),
            "oov": losses.masked_sum(tf.cast(tf.equal(targets, OOV_ID), tf.float32), mask),
        }

    def summarize(self, totals: Mapping[str, float]) -> dict[str, float]:
        """loss, chord_nll_per_frame (nats over chord classes), perplexity, accuracy, oov_rate."""
        return chord_summary(totals)

    def custom_objects(self) -> dict[str, Any]:
        """The classes a ``.keras`` file of this family names."""
        return {"ChordLSTM": ChordLSTM}


def chord_summary(totals: Mapping[str, float]) -> dict[str, float]:
    """The chord-class metrics from summed stats (``correct`` and ``oov`` counts included)."""
    nll = ratio(totals[NLL_SUM], totals[NLL_WEIGHT])
    return {
        "loss": ratio(totals[LOSS_SUM], totals[WEIGHT]),
        "chord_nll_per_frame": nll,
        "perplexity": math.exp(nll) if math.isfinite(nll) and nll < 700 else math.inf,
        "accuracy": ratio(totals["correct"], totals[NLL_WEIGHT]),
        "oov_rate": ratio(totals["oov"], totals[NLL_WEIGHT]),
    }
