"""Magenta's PerformanceRNN (``events_rnn_graph``) in Keras 3, for all nine configs.

The graph is Magenta's: stacked LSTMs (``BasicLSTMCell``, forget bias 1.0 = Keras'
``unit_forget_bias=True`` at init), optional output dropout after each layer, and one linear
layer to the logits (for the note encoding one layer of ``sum(classes)`` units, sliced per head).
With ``input_mode="one_hot"`` the model takes Magenta's float inputs, so its trainable
parameter count equals Magenta's (6,242,692 for ``performance_with_dynamics`` at 3 x 512) and
Magenta's checkpoints map onto it. ``input_mode="embedding"`` takes the event ids through an
Embedding instead (configs without controls and without the note encoding).

Batches: :meth:`PerformanceRNNFamily.dataset` reads event ids wherever the records allow it
(compact records of configs without controls) and Magenta's float pairs otherwise;
:meth:`PerformanceRNNFamily.batch_stats` turns ids into Magenta's inputs in the graph when the
model takes floats (the same rows the reader's ``pairs`` mode gives, far less data through
tf.data). The LSTM settings are the cuDNN-eligible defaults and the logits are float32 under a
``mixed_float16`` policy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from musicgen.encodings import performance as perf
from musicgen.encodings.performance_configs import (
    NOTE_NUM_CLASSES,
    Encoding,
    PerformanceConfig,
    get_config,
)
from musicgen.errors import ConfigError
from musicgen.examples.encoding_info import EncodingInfo
from musicgen.examples.readers import performance_dataset
from musicgen.models import losses
from musicgen.models.configs.base import narrowed
from musicgen.models.configs.performance_rnn import PerformanceRNNConfig
from musicgen.models.family import LOSS_SUM, NLL_SUM, NLL_WEIGHT, WEIGHT
from musicgen.models.fused_lstm import FusedLSTM, sequence_from_ids

if TYPE_CHECKING:
    from musicgen.models.configs import ModelConfig
    from musicgen.train.config import DataConfig

NO_EVENT_LABEL = 355  # TIME_SHIFT(100): Magenta's default event, in every id-labelled config
FIRST_TIME_SHIFT = 256  # class of TIME_SHIFT(1); TIME_SHIFT(s) = 255 + s
# Encodings whose input row is the event's one-hot (as is, or after IndexOneHot).
GATHERED_ENCODINGS = (Encoding.ONE_HOT, Encoding.COMPACT)
NOTE_HEADS = (
    "time_shift_major",
    "time_shift_minor",
    "pitch",
    "velocity",
    "duration_major",
    "duration_minor",
)


@keras.saving.register_keras_serializable(package="musicgen")
class IndexOneHot(keras.layers.Layer):
    """The compact config's input, ``[..., 1]`` float class indices, as one-hots.

    Magenta's graph one-hots ``performance_with_dynamics_compact`` inputs (depth 388) before
    the LSTM, which is why that config has exactly the one-hot config's parameters.
    """

    def __init__(self, depth: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.depth = depth

    def call(self, inputs: Any) -> Any:
        ids = keras.ops.cast(keras.ops.round(inputs[..., 0]), "int32")
        return keras.ops.one_hot(ids, self.depth, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], self.depth)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "depth": self.depth}


@keras.saving.register_keras_serializable(package="musicgen")
class PerformanceRNN(keras.Model):
    """Stacked LSTMs over performance events, to next-event logits (float32).

    Args:
        config_name: The PerformanceRNN config (e.g. ``performance_with_dynamics``).
        layers: LSTM sizes (Magenta: 512, 512, 512).
        dropout: Output dropout after each LSTM (Magenta: keep_prob 1.0, i.e. 0.0).
        input_mode: ``one_hot``: Magenta's float inputs ``[B, T, input_size]``;
            ``embedding``: event ids ``[B, T]`` through an Embedding.
        embedding_dim: The embedding's width (``embedding`` only).
    """

    def __init__(
        self,
        config_name: str,
        layers: Sequence[int] = (512, 512, 512),
        dropout: float = 0.0,
        input_mode: str = "one_hot",
        embedding_dim: int = 256,
        **kwargs: Any,
    ) -> None:
        config = get_config(config_name)
        _check_input_mode(config, input_mode)
        num_logits = _num_logits(config)
        # === Functional Model ===
        if input_mode == "embedding":
            inputs = keras.Input((None,), dtype="int32", name="inputs")
            x = keras.layers.Embedding(config.num_event_classes, embedding_dim, name="embedding")(
                inputs
            )
        else:
            inputs = keras.Input((None, config.input_size), name="inputs")
            x = inputs
            if config.encoding is Encoding.COMPACT:
                x = IndexOneHot(config.num_event_classes, name="index_one_hot")(x)
        for i, size in enumerate(layers):
            # The defaults (tanh, sigmoid, no recurrent dropout, no unroll) keep cuDNN eligible;
            # FusedLSTM is Keras' LSTM with a faster loop where there is no cuDNN.
            x = FusedLSTM(size, return_sequences=True, unit_forget_bias=True, name=f"lstm_{i}")(x)
            if dropout > 0:
                x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
        logits = keras.layers.Dense(num_logits, dtype="float32", name="logits")(x)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        # === Config ===
        self.config_name = config_name
        self.layer_sizes = tuple(int(s) for s in layers)
        self.dropout = float(dropout)
        self.input_mode = input_mode
        self.embedding_dim = int(embedding_dim)

    @property
    def performance_config(self) -> PerformanceConfig:
        """The PerformanceRNN config this model reads."""
        return get_config(self.config_name)

    def logits_from_ids(self, ids: tf.Tensor, training: bool = False) -> tf.Tensor:
        """The logits for event ids ``[B, T]`` of a pure one-hot config, as ``self(one_hot)``.

        The first LSTM gathers rows of its kernel instead of multiplying the one-hot rows
        (:func:`~musicgen.models.fused_lstm.sequence_from_ids`); the rest is the model's own.
        """
        config = self.performance_config
        if self.input_mode != "one_hot" or config.encoding not in GATHERED_ENCODINGS:
            raise ConfigError(f"{config.name}: logits_from_ids needs a one-hot input model")
        if config.controls or config.note_performance:
            raise ConfigError(f"{config.name}: inputs need controls or note tuples, not ids")
        lstms = [layer for layer in self.layers if isinstance(layer, FusedLSTM)]
        x = sequence_from_ids(
            lstms[0], ids, config.num_event_classes, lstms[0].compute_dtype, training
        )
        for i, layer in enumerate(lstms):
            if i:
                x = layer(x, training=training)
            if self.dropout > 0:
                x = self.get_layer(f"dropout_{i}")(x, training=training)
        return self.get_layer("logits")(x)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "config_name": self.config_name,
            "layers": list(self.layer_sizes),
            "dropout": self.dropout,
            "input_mode": self.input_mode,
            "embedding_dim": self.embedding_dim,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PerformanceRNN:
        return cls(**config)


def _check_input_mode(config: PerformanceConfig, input_mode: str) -> None:
    if input_mode not in ("one_hot", "embedding"):
        raise ConfigError(f"input_mode must be one_hot or embedding, got {input_mode!r}")
    if input_mode == "embedding" and (config.controls or config.note_performance):
        raise ConfigError(
            f"input_mode 'embedding' needs a config without controls or note encoding; "
            f"{config.name} takes Magenta's one_hot inputs only"
        )


def _num_logits(config: PerformanceConfig) -> int:
    classes = config.num_classes
    return classes if isinstance(classes, int) else sum(classes)


def event_inputs(ids: tf.Tensor, config: PerformanceConfig) -> tf.Tensor:
    """Magenta's float input rows ``[B, T, input_size]`` of event ids ``[B, T]``, in the graph.

    For configs without controls and without the note encoding: the rows the reader's
    ``pairs`` mode gives (padding rows differ, but padding follows the real steps and is masked).
    """
    if config.controls or config.note_performance:
        raise ConfigError(f"{config.name}: inputs need controls or note tuples, not ids")
    if config.encoding is Encoding.ONE_HOT:
        return tf.one_hot(ids, config.num_event_classes, dtype=tf.float32)
    if config.encoding is Encoding.COMPACT:
        return tf.cast(ids, tf.float32)[..., None]
    table = np.asarray(perf.event_inputs(np.arange(config.num_event_classes), config))
    return tf.gather(tf.constant(table.astype(np.float32)), ids)


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def _exp(x: float) -> float:
    return math.exp(min(x, 700.0)) if not math.isnan(x) else math.nan


class PerformanceRNNFamily:
    """The ``performance_rnn`` family (see the module docstring)."""

    name = "performance_rnn"

    def build(self, cfg: ModelConfig, info: EncodingInfo) -> keras.Model:
        """A built PerformanceRNN for the folder's config (``info.name``)."""
        cfg = narrowed(cfg, PerformanceRNNConfig)
        if info.family != "performance":
            raise ConfigError(f"performance_rnn needs performance examples, got {info.name!r}")
        return PerformanceRNN(
            info.name,
            layers=cfg.layers,
            dropout=cfg.dropout,
            input_mode=cfg.input_mode,
            embedding_dim=cfg.embedding_dim,
            name="performance_rnn",
        )

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
        """Batches of ids where the records allow it (either model takes them), else pairs."""
        config = info.performance_config
        ids_ok = info.format == "compact" and not config.controls and not config.note_performance
        return performance_dataset(
            files,
            info,
            batch_size=batch_size,
            shuffle=training,
            seed=seed,
            shuffle_buffer=data.shuffle_buffer,
            num_shards=num_shards,
            shard_index=shard_index,
            repeat=training,
            mode="ids" if ids_ok else "pairs",
        )

    def batch_stats(
        self, model: keras.Model, batch: Mapping[str, tf.Tensor], training: bool
    ) -> dict[str, tf.Tensor]:
        """Magenta's loss (mean CE over real steps) and metrics, as sums."""
        config = get_config(model.config_name)
        inputs = batch["inputs"]
        if inputs.dtype.is_integer and model.input_mode == "one_hot":
            if config.encoding in GATHERED_ENCODINGS:
                logits = model.logits_from_ids(inputs, training=training)
            else:
                logits = model(event_inputs(inputs, config), training=training)
        else:
            logits = model(inputs, training=training)
        labels = tf.cast(batch["labels"], tf.int32)
        mask = tf.cast(batch["mask"], tf.float32)
        if config.note_performance:
            return _note_stats(logits, labels, mask)
        return _event_stats(logits, labels, mask)

    def summarize(self, totals: Mapping[str, float]) -> dict[str, float]:
        """loss, perplexity, nll_per_event, accuracies, and Magenta's per-10-ms loss."""
        loss = _ratio(totals[LOSS_SUM], totals[WEIGHT])
        nll = _ratio(totals[NLL_SUM], totals[NLL_WEIGHT])
        out = {
            "loss": loss,
            "perplexity": _exp(loss),
            "nll_per_event": nll,
            "accuracy": _ratio(totals["correct"], totals[WEIGHT]),
        }
        if "tuple_correct" in totals:
            out["tuple_accuracy"] = _ratio(totals["tuple_correct"], totals[WEIGHT])
            for head in NOTE_HEADS:
                out[f"accuracy_{head}"] = _ratio(totals[f"correct_{head}"], totals[WEIGHT])
            return out
        out["event_accuracy"] = _ratio(totals["event_correct"], totals["event_weight"])
        out["no_event_accuracy"] = _ratio(totals["no_event_correct"], totals["no_event_weight"])
        per_step = _ratio(totals[NLL_SUM], totals["time_steps"])
        out["loss_per_step"] = per_step
        out["perplexity_per_step"] = _exp(per_step)
        return out

    def custom_objects(self) -> dict[str, Any]:
        """The classes a ``.keras`` file of this family names."""
        return {
            "PerformanceRNN": PerformanceRNN,
            "IndexOneHot": IndexOneHot,
            "FusedLSTM": FusedLSTM,
        }


def _event_stats(logits: tf.Tensor, labels: tf.Tensor, mask: tf.Tensor) -> dict[str, tf.Tensor]:
    ce = losses.sparse_ce(labels, logits)
    correct = tf.cast(
        tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels), tf.float32
    )
    event = tf.cast(tf.not_equal(labels, NO_EVENT_LABEL), tf.float32) * mask
    no_event = mask - event
    is_shift = (labels >= FIRST_TIME_SHIFT) & (labels <= NO_EVENT_LABEL)
    shift_steps = tf.where(is_shift, labels - (FIRST_TIME_SHIFT - 1), 0)
    loss_sum = losses.masked_sum(ce, mask)
    weight = tf.reduce_sum(mask)
    return {
        LOSS_SUM: loss_sum,
        WEIGHT: weight,
        NLL_SUM: loss_sum,
        NLL_WEIGHT: weight,
        "correct": losses.masked_sum(correct, mask),
        "event_correct": losses.masked_sum(correct, event),
        "event_weight": tf.reduce_sum(event),
        "no_event_correct": losses.masked_sum(correct, no_event),
        "no_event_weight": tf.reduce_sum(no_event),
        "time_steps": losses.masked_sum(tf.cast(shift_steps, tf.float32), mask),
    }


def _note_stats(logits: tf.Tensor, labels: tf.Tensor, mask: tf.Tensor) -> dict[str, tf.Tensor]:
    """Magenta's note-encoding loss: the 6 heads' CE averaged per step; NLL sums the heads
    (the log-probability of the whole note tuple)."""
    offsets = np.cumsum((0, *NOTE_NUM_CLASSES)).tolist()
    ces, corrects = [], []
    for k in range(len(NOTE_NUM_CLASSES)):
        head = logits[..., offsets[k] : offsets[k + 1]]
        ces.append(losses.sparse_ce(labels[..., k], head))
        pred = tf.argmax(head, axis=-1, output_type=tf.int32)
        corrects.append(tf.cast(tf.equal(pred, labels[..., k]), tf.float32))
    ce = tf.stack(ces, axis=-1)
    correct = tf.stack(corrects, axis=-1)
    weight = tf.reduce_sum(mask)
    stats = {
        LOSS_SUM: losses.masked_sum(tf.reduce_mean(ce, axis=-1), mask),
        WEIGHT: weight,
        NLL_SUM: losses.masked_sum(tf.reduce_sum(ce, axis=-1), mask),
        NLL_WEIGHT: weight,
        "correct": losses.masked_sum(tf.reduce_mean(correct, axis=-1), mask),
        "tuple_correct": losses.masked_sum(tf.reduce_min(correct, axis=-1), mask),
    }
    for k, head_name in enumerate(NOTE_HEADS):
        stats[f"correct_{head_name}"] = losses.masked_sum(correct[..., k], mask)
    return stats
