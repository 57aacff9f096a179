"""A seq2seq piano-roll LSTM: an encoder reads one window of frames, a decoder writes the next.

Rows are ``[frames | onsets]`` (the articulation channel: a note start differs from a held
note), ``2P`` wide. A sequence is cut into chunks of ``window`` frames (``seq2seq_window``)
after one chunk of silence is put in front of it: chunk k - 1 is encoded, the encoder's final
(h, c) of each layer starts the decoder's same layer, and the decoder, fed the frame before
each position (teacher forcing; the source's last frame before the first position), predicts
chunk k. Every frame is therefore predicted from earlier frames only (the previous chunk and
its own chunk so far), and frame 0 of each window, the one predicted from the silent chunk, is
not scored, so the scored frames are exactly ``pianoroll_lstm``'s: every frame but each
window's first. ``nll_per_frame`` is the plain BCE summed over the 88 keys per scored frame
(the papers' unit), whatever the training loss.

Training options (stored on the model): ``loss`` bce or focal (``focal_alpha``,
``focal_gamma``), ``teacher_forcing`` < 1 (scheduled sampling of the decoder's inputs, done in
parallel as in :mod:`.pianoroll_lstm`) and ``threshold``, the probability above which a key is
on (frame accuracy, argmax generation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import keras
import tensorflow as tf

from musicgen.errors import ConfigError
from musicgen.examples.encoding_info import EncodingInfo
from musicgen.models import losses
from musicgen.models.configs.base import narrowed
from musicgen.models.configs.seq2seq_lstm import Seq2SeqLSTMConfig
from musicgen.models.family import LOSS_SUM, NLL_SUM, NLL_WEIGHT, WEIGHT
from musicgen.models.pianoroll_lstm import (
    LOSSES,
    roll_summary,
    scheduled_inputs,
    threshold_counts,
)
from musicgen.models.roll_batches import RollWindows

if TYPE_CHECKING:
    from musicgen.models.configs import ModelConfig


@keras.saving.register_keras_serializable(package="musicgen")
class Seq2SeqLSTM(keras.Model):
    """``{"source": [B, W, 2P], "decoder_inputs": [B, W, 2P]}`` to logits ``[B, W, P]``
    (float32) of the chunk after ``source``; ``decoder_inputs[t]`` is the row before position t.

    Args:
        num_pitches: Roll width P (88).
        window: Frames per chunk W (what the encoder reads and the decoder writes).
        layers: LSTM sizes, the same for the encoder and the decoder.
        dropout: Output dropout after each LSTM.
        loss: ``bce`` or ``focal`` (training loss only).
        focal_alpha: Focal weight of sounding keys.
        focal_gamma: Focal exponent.
        teacher_forcing: Share of true decoder inputs in training (1.0: plain teacher forcing).
        threshold: Probability above which a key counts as on.
    """

    def __init__(
        self,
        num_pitches: int = 88,
        window: int = 16,
        layers: Sequence[int] = (256, 256),
        dropout: float = 0.0,
        loss: str = "bce",
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        teacher_forcing: float = 1.0,
        threshold: float = 0.5,
        **kwargs: Any,
    ) -> None:
        if loss not in LOSSES:
            raise ConfigError(f"loss must be one of {LOSSES}, got {loss!r}")
        if window < 1:
            raise ConfigError(f"window must be >= 1, got {window}")
        # === Functional Model ===
        source = keras.Input((None, 2 * num_pitches), name="source")
        decoder_inputs = keras.Input((None, 2 * num_pitches), name="decoder_inputs")
        x, states = source, []
        for i, size in enumerate(layers):
            # The defaults (tanh, sigmoid, no recurrent dropout, no unroll) keep cuDNN eligible.
            x, h, c = keras.layers.LSTM(
                size, return_sequences=True, return_state=True, unit_forget_bias=True,
                name=f"encoder_lstm_{i}",
            )(x)  # fmt: skip
            states.append([h, c])
            if dropout > 0:
                x = keras.layers.Dropout(dropout, name=f"encoder_dropout_{i}")(x)
        y = decoder_inputs
        for i, size in enumerate(layers):
            y = keras.layers.LSTM(
                size, return_sequences=True, unit_forget_bias=True, name=f"decoder_lstm_{i}"
            )(y, initial_state=states[i])
            if dropout > 0:
                y = keras.layers.Dropout(dropout, name=f"decoder_dropout_{i}")(y)
        logits = keras.layers.Dense(num_pitches, dtype="float32", name="logits")(y)
        super().__init__(
            inputs={"source": source, "decoder_inputs": decoder_inputs}, outputs=logits, **kwargs
        )
        # === Config ===
        self.num_pitches = int(num_pitches)
        self.window = int(window)
        self.layer_sizes = tuple(int(s) for s in layers)
        self.dropout = float(dropout)
        self.loss_name = loss
        self.focal_alpha = float(focal_alpha)
        self.focal_gamma = float(focal_gamma)
        self.teacher_forcing = float(teacher_forcing)
        self.threshold = float(threshold)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "num_pitches": self.num_pitches,
            "window": self.window,
            "layers": list(self.layer_sizes),
            "dropout": self.dropout,
            "loss": self.loss_name,
            "focal_alpha": self.focal_alpha,
            "focal_gamma": self.focal_gamma,
            "teacher_forcing": self.teacher_forcing,
            "threshold": self.threshold,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Seq2SeqLSTM:
        return cls(**config)


def chunk_pairs(
    frames: tf.Tensor, onsets: tf.Tensor, mask: tf.Tensor, window: int
) -> dict[str, tf.Tensor]:
    """Source chunks, decoder inputs, targets and target masks ``[B * K, W, ...]`` of windows
    ``[B, T, P]`` (see the module docstring): a silent chunk in front, the end padded to whole
    chunks, K = ceil(T / W); frame 0 of each window is masked out (never scored)."""
    shape = tf.shape(frames)
    batch, steps, width = shape[0], shape[1], shape[2]
    chunks = (steps + window - 1) // window
    tail = chunks * window - steps
    rows = tf.concat([frames, onsets], axis=-1)
    padded = tf.pad(rows, [[0, 0], [window, tail], [0, 0]])  # [B, (K + 1) W, 2P]
    shifted = tf.pad(rows, [[0, 0], [window + 1, tail], [0, 0]])[:, : (chunks + 1) * window]
    mask = tf.concat([tf.zeros_like(mask[:, :1]), mask[:, 1:]], axis=1)  # frame 0 unscored
    mask = tf.pad(mask, [[0, 0], [0, tail]])

    def split(x: tf.Tensor, depth: tf.Tensor) -> tf.Tensor:
        return tf.reshape(x, tf.stack([batch * chunks, window, depth]))

    return {
        "source": split(padded[:, :-window], 2 * width),
        "decoder_inputs": split(shifted[:, window:], 2 * width),
        "targets": split(padded[:, window:, :width], width),
        "mask": tf.reshape(mask, tf.stack([batch * chunks, window])),
    }


class Seq2SeqLSTMFamily(RollWindows):
    """The ``seq2seq_lstm`` family (see the module docstring)."""

    name = "seq2seq_lstm"

    def build(self, cfg: ModelConfig, info: EncodingInfo) -> keras.Model:
        """A built Seq2SeqLSTM of the folder's roll width."""
        cfg = narrowed(cfg, Seq2SeqLSTMConfig)
        if info.family != "pianoroll":
            raise ConfigError(f"seq2seq_lstm needs piano-roll examples, got {info.name!r}")
        return Seq2SeqLSTM(
            num_pitches=info.num_pitches,
            window=cfg.seq2seq_window,
            layers=cfg.layers,
            dropout=cfg.dropout,
            loss=cfg.loss,
            focal_alpha=cfg.focal_alpha,
            focal_gamma=cfg.focal_gamma,
            teacher_forcing=cfg.teacher_forcing,
            threshold=cfg.threshold,
            name="seq2seq_lstm",
        )

    def batch_stats(
        self, model: keras.Model, batch: Mapping[str, tf.Tensor], training: bool
    ) -> dict[str, tf.Tensor]:
        """The (possibly focal, scheduled-sampling) loss and the plain NLL, as sums."""
        pairs = chunk_pairs(
            tf.cast(batch["frames"], tf.float32),
            tf.cast(batch["onsets"], tf.float32),
            tf.cast(batch["mask"], tf.float32),
            model.window,
        )
        targets, mask = pairs["targets"], pairs["mask"]
        inputs = {"source": pairs["source"], "decoder_inputs": pairs["decoder_inputs"]}
        logits = model(inputs, training=training)
        forced_logits = logits  # teacher-forced: what the NLL and the accuracy report
        if training and model.teacher_forcing < 1.0:
            width = model.num_pitches
            dec = pairs["decoder_inputs"]
            mixed, mixed_onsets = scheduled_inputs(
                dec[..., :width], dec[..., width:], tf.sigmoid(tf.stop_gradient(logits)),
                model.teacher_forcing,
            )  # fmt: skip
            forced_logits = tf.stop_gradient(logits)
            mixed_inputs = tf.concat([mixed, mixed_onsets], axis=-1)
            logits = model({**inputs, "decoder_inputs": mixed_inputs}, training=training)
        if model.loss_name == "focal":
            elements = losses.focal_with_logits(
                targets, logits, model.focal_alpha, model.focal_gamma
            )
        else:
            elements = losses.bce_with_logits(targets, logits)
        nll = tf.reduce_sum(losses.bce_with_logits(targets, forced_logits), axis=-1)
        weight = tf.reduce_sum(mask)
        return {
            LOSS_SUM: losses.masked_sum(tf.reduce_sum(elements, axis=-1), mask),
            WEIGHT: weight,
            NLL_SUM: losses.masked_sum(nll, mask),
            NLL_WEIGHT: weight,
            **threshold_counts(targets, forced_logits, mask, model.threshold),
        }

    def summarize(self, totals: Mapping[str, float]) -> dict[str, float]:
        """See :func:`~musicgen.models.pianoroll_lstm.roll_summary`."""
        return roll_summary(totals)

    def custom_objects(self) -> dict[str, Any]:
        """The classes a ``.keras`` file of this family names."""
        return {"Seq2SeqLSTM": Seq2SeqLSTM}
