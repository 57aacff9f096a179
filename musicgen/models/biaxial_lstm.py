"""Johnson's (2017) tied-parallel ("biaxial", BALSTM) LSTM over per-note features.

Two named sub-models, so that a generator can run the note axis one note at a time:

* ``time_axis``: LSTMs along time, weights shared by the 88 notes (notes folded into the batch):
  ``[B*P, T, 79]`` features to ``[B*P, T, H]``.
* ``note_axis``: LSTMs along the keyboard, weights shared by all steps (steps folded into the
  batch): at note n the time-axis output of n concatenated with the (play, articulate) of note
  n - 1 (teacher forcing in training, zeros below the lowest note), ``[B*T, P, H + 2]`` to
  ``[B*T, P, 2]`` float32 logits (play, articulate). Its note length is free, so a generator
  may feed it a prefix of the keyboard.

Features ``[t]`` (:mod:`musicgen.encodings.biaxial`) describe frame t - 1 and the beat of t,
so they predict frame t; the first step of each window is dropped (its features see silence or
the frame before the window), which scores the same frames as ``pianoroll_lstm``: every frame
but the first of each window. Loss (Johnson's): BCE(play) + BCE(articulate), the latter only
where the note plays, summed over notes per frame. ``nll_per_frame`` is the play NLL summed over
the 88 keys (the unit of the published BALSTM JSB 5.86); ``nll_play_articulate_per_frame`` adds
the articulation term. Dropout is ``cfg.dropout`` if > 0, else Johnson's 0.5, after every LSTM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import keras
import tensorflow as tf

from musicgen.encodings import biaxial
from musicgen.errors import ConfigError
from musicgen.examples.encoding_info import EncodingInfo
from musicgen.models import losses
from musicgen.models.configs.base import narrowed
from musicgen.models.configs.biaxial_lstm import BiaxialLSTMConfig
from musicgen.models.family import LOSS_SUM, NLL_SUM, NLL_WEIGHT, WEIGHT
from musicgen.models.pianoroll_lstm import ratio, roll_summary, threshold_counts
from musicgen.models.roll_batches import RollWindows

if TYPE_CHECKING:
    from musicgen.models.configs import ModelConfig

JOHNSON_DROPOUT = 0.5


def _lstm_stack(x: Any, sizes: Sequence[int], dropout: float, prefix: str) -> Any:
    for i, size in enumerate(sizes):
        # The defaults (tanh, sigmoid, no recurrent dropout, no unroll) keep cuDNN eligible.
        x = keras.layers.LSTM(
            size, return_sequences=True, unit_forget_bias=True, name=f"{prefix}_lstm_{i}"
        )(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"{prefix}_dropout_{i}")(x)
    return x


@keras.saving.register_keras_serializable(package="musicgen")
class BiaxialLSTM(keras.Model):
    """The biaxial LSTM: ``{"features": [B, T, P, F], "targets": [B, T, P, 2]}`` to
    ``[B, T, P, 2]`` float32 logits of (play, articulate); ``targets`` are the true values of
    the predicted frame, of which note n sees those of note n - 1 only.

    Args:
        num_pitches: Roll width P (88).
        num_features: Per-note features F (79).
        time_layers: Time-axis LSTM sizes.
        note_layers: Note-axis LSTM sizes.
        dropout: Output dropout after each LSTM (Johnson: 0.5).
        threshold: Probability above which a key counts as on (frame accuracy).
    """

    def __init__(
        self,
        num_pitches: int = 88,
        num_features: int = biaxial.NUM_FEATURES,
        time_layers: Sequence[int] = (300, 300),
        note_layers: Sequence[int] = (100, 50),
        dropout: float = JOHNSON_DROPOUT,
        threshold: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # === Layers ===
        time_in = keras.Input((None, num_features), name="time_inputs")
        time_out = _lstm_stack(time_in, time_layers, dropout, "time")
        self.time_axis = keras.Model(time_in, time_out, name="time_axis")
        note_in = keras.Input((None, int(time_layers[-1]) + 2), name="note_inputs")
        note_out = _lstm_stack(note_in, note_layers, dropout, "note")
        logits = keras.layers.Dense(2, dtype="float32", name="logits")(note_out)
        self.note_axis = keras.Model(note_in, logits, name="note_axis")
        # === Config ===
        self.num_pitches = int(num_pitches)
        self.num_features = int(num_features)
        self.time_layers = tuple(int(s) for s in time_layers)
        self.note_layers = tuple(int(s) for s in note_layers)
        self.dropout = float(dropout)
        self.threshold = float(threshold)

    def time_outputs(self, features: Any, training: bool | None = None) -> Any:
        """Time-axis outputs ``[B, T, P, H]`` of features ``[B, T, P, F]``."""
        shape = keras.ops.shape(features)
        batch, steps = shape[0], shape[1]
        x = keras.ops.transpose(features, (0, 2, 1, 3))  # [B, P, T, F]
        x = keras.ops.reshape(x, (-1, steps, self.num_features))
        x = self.time_axis(x, training=training)
        x = keras.ops.reshape(x, (batch, self.num_pitches, steps, self.time_layers[-1]))
        return keras.ops.transpose(x, (0, 2, 1, 3))

    def note_logits(self, time_out: Any, previous: Any, training: bool | None = None) -> Any:
        """Note-axis logits ``[B, T, N, 2]`` of time outputs ``[B, T, N, H]`` and the
        (play, articulate) of each note's lower neighbour ``[B, T, N, 2]``."""
        shape = keras.ops.shape(time_out)
        batch, steps, notes = shape[0], shape[1], shape[2]
        x = keras.ops.concatenate([time_out, keras.ops.cast(previous, time_out.dtype)], axis=-1)
        x = keras.ops.reshape(x, (-1, notes, self.time_layers[-1] + 2))
        x = self.note_axis(x, training=training)
        return keras.ops.reshape(x, (batch, steps, notes, 2))

    def call(self, inputs: Mapping[str, Any], training: bool | None = None) -> Any:
        targets = inputs["targets"]
        # Note n sees note n - 1's targets; the lowest note sees zeros.
        previous = keras.ops.pad(targets[:, :, :-1], ((0, 0), (0, 0), (1, 0), (0, 0)))
        time_out = self.time_outputs(inputs["features"], training=training)
        return self.note_logits(time_out, previous, training=training)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "num_pitches": self.num_pitches,
            "num_features": self.num_features,
            "time_layers": list(self.time_layers),
            "note_layers": list(self.note_layers),
            "dropout": self.dropout,
            "threshold": self.threshold,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BiaxialLSTM:
        return cls(**config)


def example_inputs(num_pitches: int = 88, steps: int = 2, batch: int = 1) -> dict[str, tf.Tensor]:
    """Zero inputs of the model's signature (builds the model by calling it once)."""
    return {
        "features": tf.zeros([batch, steps, num_pitches, biaxial.NUM_FEATURES]),
        "targets": tf.zeros([batch, steps, num_pitches, 2]),
    }


class BiaxialLSTMFamily(RollWindows):
    """The ``biaxial_lstm`` family (see the module docstring)."""

    FEATURES = "biaxial"

    name = "biaxial_lstm"

    def build(self, cfg: ModelConfig, info: EncodingInfo) -> keras.Model:
        """A built BiaxialLSTM (called once on zeros, so every weight exists)."""
        cfg = narrowed(cfg, BiaxialLSTMConfig)
        if info.family != "pianoroll":
            raise ConfigError(f"biaxial_lstm needs piano-roll examples, got {info.name!r}")
        model = BiaxialLSTM(
            num_pitches=info.num_pitches,
            time_layers=cfg.time_layers,
            note_layers=cfg.note_layers,
            dropout=cfg.dropout if cfg.dropout > 0 else JOHNSON_DROPOUT,
            threshold=cfg.threshold,
            name="biaxial_lstm",
        )
        model(example_inputs(info.num_pitches))
        return model

    def batch_stats(
        self, model: keras.Model, batch: Mapping[str, tf.Tensor], training: bool
    ) -> dict[str, tf.Tensor]:
        """Johnson's loss and the play / play+articulate NLLs, as sums over real frames."""
        play = tf.cast(batch["frames"], tf.float32)[:, 1:]
        artic = tf.cast(batch["onsets"], tf.float32)[:, 1:]
        mask = tf.cast(batch["mask"], tf.float32)[:, 1:]
        targets = tf.stack([play, artic], axis=-1)
        features = tf.cast(batch["features"], tf.float32)[:, 1:]
        logits = model({"features": features, "targets": targets}, training=training)
        play_nll = losses.bce_with_logits(play, logits[..., 0])
        artic_nll = play * losses.bce_with_logits(artic, logits[..., 1])
        both = tf.reduce_sum(play_nll + artic_nll, axis=-1)
        loss_sum = losses.masked_sum(both, mask)
        weight = tf.reduce_sum(mask)
        return {
            LOSS_SUM: loss_sum,
            WEIGHT: weight,
            NLL_SUM: losses.masked_sum(tf.reduce_sum(play_nll, axis=-1), mask),
            NLL_WEIGHT: weight,
            "nll_play_articulate_sum": loss_sum,
            **threshold_counts(play, logits[..., 0], mask, model.threshold),
        }

    def summarize(self, totals: Mapping[str, float]) -> dict[str, float]:
        """:func:`~musicgen.models.pianoroll_lstm.roll_summary` plus the play+articulate NLL."""
        out = roll_summary(totals)
        out["nll_play_articulate_per_frame"] = ratio(
            totals["nll_play_articulate_sum"], totals[NLL_WEIGHT]
        )
        return out

    def custom_objects(self) -> dict[str, Any]:
        """The classes a ``.keras`` file of this family names."""
        return {"BiaxialLSTM": BiaxialLSTM}
