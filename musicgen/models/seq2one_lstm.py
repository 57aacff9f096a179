"""A many-to-one LSTM: the ``window`` steps before a frame in, that one frame out.

Where ``chord_lstm`` and ``pianoroll_lstm`` read a whole window and predict every next step
from all of it (many-to-many), this family sees only a fixed-length context: stacked LSTMs read
it, the last LSTM output goes through ``Dense(dense_size, relu)`` and the output layer predicts
the step after the context. Generation slides the window (:mod:`musicgen.generate.
seq2one_generator`). Two targets (``target``):

- ``chord``: ids of the dataset's chord vocabulary through an embedding, a softmax over the
  classes. The vocabulary, its ``max_chords`` folding into OOV and the scored frames are
  exactly ``chord_lstm``'s, so ``chord_nll_per_frame`` (nats over chord classes, not the
  88-key unit) compares with it on the same data.
- ``frame``: rows ``[start | continue]`` (2 x 88: a key struck at this frame, a key held from
  before) in, and for each of the 88 keys a 3-way softmax over (off, start, continue) out. The
  3-way softmax is a proper distribution over the encoding's events (two sigmoids would give
  mass to "started and continued"). Its NLL, ``articulated_nll_per_frame``, covers more events
  than ``pianoroll_lstm``'s 88 Bernoullis, so it has its own name; ``nll_per_frame`` is the
  same model's probability of the keys' on/off pattern alone (``P(on) = P(start) +
  P(continue)``, keys independent given the context): the papers' event space and unit, so
  comparable with the piano-roll families. Training minimizes the articulated NLL.

Training examples: every frame ``t >= 1`` of a batch window is a target, read from frames
``max(0, t - W) .. t - 1``; the ``[B * (T - 1), W]`` contexts are gathered inside the graph
(:func:`context_windows`). A context shorter than W (the start of a window) is padded and its
padding masked, so the model sees exactly the real steps; the padding goes *after* the real
steps because Keras runs cuDNN only for right-padded masks, and a masked LSTM's last output is
that of its last real step. Targets on the batch's padded frames are not scored.

The batches come from ``roll_batches`` without the model config, so they carry chord ids
whenever the dataset has a ``chords.json`` (a ``frame`` model ignores them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import keras
import tensorflow as tf

from musicgen import storage
from musicgen.encodings.chords import OOV_ID, ChordVocabulary
from musicgen.errors import ConfigError
from musicgen.examples.encoding_info import EncodingInfo
from musicgen.models import losses
from musicgen.models.chord_lstm import chord_summary, model_vocabulary, read_vocabulary
from musicgen.models.configs.base import narrowed
from musicgen.models.configs.seq2one_lstm import TARGETS, Seq2OneLSTMConfig
from musicgen.models.family import LOSS_SUM, NLL_SUM, NLL_WEIGHT, WEIGHT
from musicgen.models.pianoroll_lstm import ratio, roll_summary, threshold_counts
from musicgen.models.roll_batches import RollWindows
from musicgen.storage import layout

if TYPE_CHECKING:
    from musicgen.models.configs import ModelConfig
    from musicgen.train.config import DataConfig

ARTICULATED_NLL_SUM = "articulated_nll_sum"
OFF, START, CONTINUE = 0, 1, 2  # a key's classes in the frame target


@keras.saving.register_keras_serializable(package="musicgen")
class Seq2OneLSTM(keras.Model):
    """``{"context": [B, W] ids or [B, W, 2P] rows, "mask": [B, W] bool}`` to the logits of
    the next step (float32): ``[B, C]`` chord classes, or ``[B, P, 3]`` (off, start, continue)
    per key. ``mask`` marks the real steps, which come first.

    Args:
        target: ``chord`` or ``frame``.
        vocabulary: The chord vocabulary's JSON (``chord`` only); C is its size.
        num_pitches: Roll width P (``frame``; a ``chord`` model takes its vocabulary's).
        window: Context length W the model was trained with (generation slides it).
        embedding_dim: Width of the chord embedding.
        layers: LSTM sizes.
        dense_size: Width of the ReLU layer before the output.
        dropout: Dropout after each LSTM and after the ReLU layer.
        threshold: Probability above which a key counts as on (``frame``).
    """

    def __init__(
        self,
        target: str = "chord",
        vocabulary: str | None = None,
        num_pitches: int = 88,
        window: int = 16,
        embedding_dim: int = 256,
        layers: Sequence[int] = (512, 512, 512),
        dense_size: int = 256,
        dropout: float = 0.3,
        threshold: float = 0.5,
        **kwargs: Any,
    ) -> None:
        if target not in TARGETS:
            raise ConfigError(f"target must be one of {TARGETS}, got {target!r}")
        if window < 1:
            raise ConfigError(f"window must be >= 1, got {window}")
        # === Functional Model ===
        mask = keras.Input((None,), dtype="bool", name="mask")
        num_classes = 0
        if target == "chord":
            if vocabulary is None:
                raise ConfigError("a chord target needs a vocabulary")
            chords = ChordVocabulary.from_json(vocabulary)
            num_classes, num_pitches = chords.size, chords.num_pitches
            context = keras.Input((None,), dtype="int32", name="context")
            x = keras.layers.Embedding(num_classes, embedding_dim, name="embedding")(context)
        else:
            context = keras.Input((None, 2 * num_pitches), name="context")
            x = context
        for i, size in enumerate(layers):
            # Only the last LSTM collapses time. The defaults (tanh, sigmoid, no recurrent
            # dropout, no unroll) and a right-padded mask keep cuDNN eligible.
            x = keras.layers.LSTM(
                size, return_sequences=i < len(layers) - 1, unit_forget_bias=True,
                name=f"lstm_{i}",
            )(x, mask=mask)  # fmt: skip
            if dropout > 0:
                x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
        x = keras.layers.Dense(dense_size, activation="relu", name="dense")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name="dense_dropout")(x)
        if target == "chord":
            logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
        else:
            logits = keras.layers.Dense(3 * num_pitches, dtype="float32", name="logits")(x)
            logits = keras.layers.Reshape((num_pitches, 3), dtype="float32", name="keys")(logits)
        super().__init__(inputs={"context": context, "mask": mask}, outputs=logits, **kwargs)
        # === Config ===
        self.target = target
        self.vocabulary_json = vocabulary
        self.num_classes = int(num_classes)
        self.num_pitches = int(num_pitches)
        self.window = int(window)
        self.embedding_dim = int(embedding_dim)
        self.layer_sizes = tuple(int(s) for s in layers)
        self.dense_size = int(dense_size)
        self.dropout = float(dropout)
        self.threshold = float(threshold)

    @cached_property
    def vocabulary(self) -> ChordVocabulary:
        """The vocabulary a ``chord`` model was built with (decodes its classes to frames)."""
        if self.vocabulary_json is None:
            raise AttributeError("a frame-target model has no chord vocabulary")
        return ChordVocabulary.from_json(self.vocabulary_json)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "target": self.target,
            "vocabulary": self.vocabulary_json,
            "num_pitches": self.num_pitches,
            "window": self.window,
            "embedding_dim": self.embedding_dim,
            "layers": list(self.layer_sizes),
            "dense_size": self.dense_size,
            "dropout": self.dropout,
            "threshold": self.threshold,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Seq2OneLSTM:
        return cls(**config)


def context_windows(steps: tf.Tensor, window: int) -> tuple[tf.Tensor, tf.Tensor]:
    """The context of every target ``t = 1 .. T-1`` of ``steps`` ``[B, T, ...]``, as one
    gather: contexts ``[B * (T - 1), W, ...]`` (row ``b * (T - 1) + t - 1`` holds steps
    ``max(0, t - W) .. t - 1`` first, then padding) and their masks ``[B * (T - 1), W]``."""
    num_steps = tf.shape(steps)[1]
    targets = tf.range(1, num_steps)
    lengths = tf.minimum(targets, window)
    slots = tf.range(window)
    # Padding slots repeat the last real step (any value would do: they are masked).
    index = (targets - lengths)[:, None] + tf.minimum(slots[None, :], lengths[:, None] - 1)
    mask = slots[None, :] < lengths[:, None]  # [T - 1, W]
    contexts = tf.gather(steps, index, axis=1)  # [B, T - 1, W, ...]
    batch = tf.shape(steps)[0]
    contexts = tf.reshape(contexts, [-1, window, *steps.shape[2:]])
    return contexts, tf.reshape(tf.tile(mask[None], [batch, 1, 1]), [-1, window])


def frame_rows(frames: tf.Tensor, onsets: tf.Tensor) -> tf.Tensor:
    """``[start | continue]`` rows ``[..., 2P]``: keys struck at the frame, keys held on."""
    frames = tf.cast(frames, tf.float32)
    start = frames * tf.cast(onsets, tf.float32)
    return tf.concat([start, frames - start], axis=-1)


def frame_classes(frames: tf.Tensor, onsets: tf.Tensor) -> tf.Tensor:
    """Each key's class ``[..., P]`` int32: OFF, START (struck) or CONTINUE (held)."""
    on = tf.cast(frames, tf.int32) > 0
    struck = on & (tf.cast(onsets, tf.int32) > 0)
    return tf.where(struck, START, tf.where(on, CONTINUE, OFF))


def key_log_probs(logits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Per-key ``(log-softmax [..., 3], log P(on), log P(off))`` of (off, start, continue)
    logits, in float32."""
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
    log_on = tf.reduce_logsumexp(log_probs[..., START:], axis=-1)
    return log_probs, log_on, log_probs[..., OFF]


def _chord_stats(model: Seq2OneLSTM, batch: Mapping[str, tf.Tensor], training: bool) -> dict:
    ids = tf.cast(batch["chords"], tf.int32)
    ids = tf.where(ids < model.num_classes, ids, OOV_ID)  # a capped model's OOV
    mask = tf.reshape(tf.cast(batch["mask"], tf.float32)[:, 1:], [-1])
    targets = tf.reshape(ids[:, 1:], [-1])
    contexts, context_mask = context_windows(ids, model.window)
    logits = model({"context": contexts, "mask": context_mask}, training=training)
    nll = losses.masked_sparse_ce_sum(targets, logits, mask)
    correct = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), targets)
    weight = tf.reduce_sum(mask)
    return {
        LOSS_SUM: nll,
        WEIGHT: weight,
        NLL_SUM: nll,
        NLL_WEIGHT: weight,
        "correct": losses.masked_sum(tf.cast(correct, tf.float32), mask),
        "oov": losses.masked_sum(tf.cast(tf.equal(targets, OOV_ID), tf.float32), mask),
    }


def _frame_stats(model: Seq2OneLSTM, batch: Mapping[str, tf.Tensor], training: bool) -> dict:
    frames, onsets = batch["frames"], batch["onsets"]
    width = model.num_pitches
    mask = tf.reshape(tf.cast(batch["mask"], tf.float32)[:, 1:], [-1])
    classes = tf.reshape(frame_classes(frames, onsets)[:, 1:], [-1, width])
    contexts, context_mask = context_windows(frame_rows(frames, onsets), model.window)
    logits = model({"context": contexts, "mask": context_mask}, training=training)
    log_probs, log_on, log_off = key_log_probs(logits)
    articulated = -tf.reduce_sum(tf.gather(log_probs, classes, batch_dims=2), axis=-1)
    on = classes > OFF
    nll = -tf.reduce_sum(tf.where(on, log_on, log_off), axis=-1)
    weight = tf.reduce_sum(mask)
    articulated_sum = losses.masked_sum(articulated, mask)
    return {
        LOSS_SUM: articulated_sum,
        WEIGHT: weight,
        NLL_SUM: losses.masked_sum(nll, mask),
        NLL_WEIGHT: weight,
        ARTICULATED_NLL_SUM: articulated_sum,
        **threshold_counts(tf.cast(on, tf.float32), log_on - log_off, mask, model.threshold),
    }


class Seq2OneLSTMFamily(RollWindows):
    """The ``seq2one_lstm`` family (see the module docstring)."""

    def vocabulary(self, data: DataConfig) -> ChordVocabulary | None:
        """The dataset's ``chords.json`` where there is one (a frame-target model ignores the
        ids; the batches cannot know the target, which is the model's)."""
        path = storage.join(data.dataset, layout.CHORD_VOCABULARY)
        return read_vocabulary(path) if storage.exists(path) else None

    name = "seq2one_lstm"

    def build(self, cfg: ModelConfig, info: EncodingInfo) -> keras.Model:
        """A built Seq2OneLSTM: over the vocabulary ``cfg.chords`` (capped to ``max_chords``)
        for a chord target, over the folder's roll width for a frame target."""
        cfg = narrowed(cfg, Seq2OneLSTMConfig)
        if info.family != "pianoroll":
            raise ConfigError(f"seq2one_lstm needs piano-roll examples, got {info.name!r}")
        vocabulary = None
        if cfg.target == "chord":
            chords = model_vocabulary("seq2one_lstm", cfg.chords, cfg.max_chords, info)
            vocabulary = chords.to_json()
        return Seq2OneLSTM(
            target=cfg.target,
            vocabulary=vocabulary,
            num_pitches=info.num_pitches,
            window=cfg.window,
            embedding_dim=cfg.embedding_dim,
            layers=cfg.layers,
            dense_size=cfg.dense_size,
            dropout=cfg.dropout,
            threshold=cfg.threshold,
            name="seq2one_lstm",
        )

    def batch_stats(
        self, model: keras.Model, batch: Mapping[str, tf.Tensor], training: bool
    ) -> dict[str, tf.Tensor]:
        """Cross-entropy of every next step from its context, and the target's metrics, as
        sums."""
        if model.target == "chord":
            return _chord_stats(model, batch, training)
        return _frame_stats(model, batch, training)

    def summarize(self, totals: Mapping[str, float]) -> dict[str, float]:
        """Chord target: ``chord_lstm``'s metrics (chord_nll_per_frame, perplexity, accuracy,
        oov_rate); frame target: the piano-roll metrics (nll_per_frame: 88-key on/off) and
        articulated_nll_per_frame (off/start/continue per key)."""
        if ARTICULATED_NLL_SUM in totals:
            return {
                **roll_summary(totals),
                "articulated_nll_per_frame": ratio(totals[ARTICULATED_NLL_SUM], totals[NLL_WEIGHT]),
            }
        return chord_summary(totals)

    def custom_objects(self) -> dict[str, Any]:
        """The classes a ``.keras`` file of this family names."""
        return {"Seq2OneLSTM": Seq2OneLSTM}
