"""EnDeCell: an encoder/decoder over the keyboard inside every time step of a piano-roll LSTM.

Three named sub-models, so that a generator can run each on its own:

* ``encoder``: an LSTM reads one frame key by key (``key_chunk`` keys per step, each key's
  (sounding, onset) pair) and its final output is the frame's embedding ``[N, E]``: a learned
  code of the keyboard configuration, in which intervals and chord shapes are sequences of
  keys rather than 88 unrelated inputs.
* ``time_axis``: LSTMs over the embeddings of a window's frames, then a tanh projection back to
  the embedding width: the embedding the next frame should have ``[B, T, E]``.
* ``decoder``: an LSTM writes the next frame key by key from that embedding; at key step j it
  sees the embedding and the true keys of step j - 1 (teacher forcing; zeros at the lowest
  step), so each key's decision depends on the keys below it in the same frame, which 88
  independent sigmoids cannot express. Logits ``[N, 88/key_chunk, key_chunk]`` (float32).

The encoder and the decoder share the embedding width, so the pair is also a frame autoencoder
(:meth:`EnDeCell.reconstruct`) that :mod:`musicgen.models.endecell_pretrain` can train alone
and whose weights the full model can start from.

Cost: the naive reading is T x 88 x 2 sequential LSTM steps per sequence. Frames are
independent given their inputs, so the encoder and the decoder run over all B*T frames as one
batch and only the 88 / key_chunk key steps are sequential (plus the T time steps of a small
LSTM): a frame-wide batch is what a GPU wants. Input frame t predicts frame t + 1; the first
frame of a window is never scored and padded frames are masked, exactly as in
:mod:`.pianoroll_lstm`, so ``nll_per_frame`` (nats per frame over the 88 Bernoulli keys,
teacher forced) compares directly with the other roll families.
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
from musicgen.models.configs.endecell import EndecellConfig, check_key_chunk
from musicgen.models.family import LOSS_SUM, NLL_SUM, NLL_WEIGHT, WEIGHT
from musicgen.models.pianoroll_lstm import roll_summary, threshold_counts
from musicgen.models.roll_batches import RollWindows

if TYPE_CHECKING:
    from musicgen.models.configs import ModelConfig


def _lstm(units: int, name: str, sequences: bool = True) -> keras.layers.LSTM:
    # The defaults (tanh, sigmoid, no recurrent dropout, no unroll) keep cuDNN eligible.
    return keras.layers.LSTM(units, return_sequences=sequences, unit_forget_bias=True, name=name)


@keras.saving.register_keras_serializable(package="musicgen")
class EnDeCell(keras.Model):
    """``{"rows": [B, T, 2P], "targets": [B, T, P]}`` to next-frame logits ``[B, T, P]``
    (float32): ``rows[t]`` is ``[frame_t | onsets_t]``, ``targets[t]`` the true frame t + 1,
    of whose keys each chunk sees only the chunks below it.

    Args:
        num_pitches: Roll width P (88).
        encoder_size: Encoder LSTM units E, the width of a frame's embedding.
        time_layers: Time LSTM sizes.
        decoder_size: Decoder LSTM units.
        key_chunk: Keys per encoder/decoder step; divides P.
        dropout: Output dropout after each time LSTM and the decoder LSTM.
        threshold: Probability above which a key counts as on.
    """

    def __init__(
        self,
        num_pitches: int = 88,
        encoder_size: int = 128,
        time_layers: Sequence[int] = (256, 256),
        decoder_size: int = 128,
        key_chunk: int = 1,
        dropout: float = 0.0,
        threshold: float = 0.5,
        **kwargs: Any,
    ) -> None:
        check_key_chunk(int(key_chunk), int(num_pitches))
        super().__init__(**kwargs)
        chunk = int(key_chunk)
        # === Layers ===
        enc_in = keras.Input((None, 2 * chunk), name="encoder_inputs")
        enc_out = _lstm(encoder_size, "encoder_lstm", sequences=False)(enc_in)
        self.encoder = keras.Model(enc_in, enc_out, name="encoder")
        time_in = keras.Input((None, encoder_size), name="time_inputs")
        x = time_in
        for i, size in enumerate(time_layers):
            x = _lstm(size, f"time_lstm_{i}")(x)
            if dropout > 0:
                x = keras.layers.Dropout(dropout, name=f"time_dropout_{i}")(x)
        # tanh: the encoder's embeddings (LSTM outputs) lie in (-1, 1); so do the predicted ones.
        x = keras.layers.Dense(encoder_size, activation="tanh", name="time_projection")(x)
        self.time_axis = keras.Model(time_in, x, name="time_axis")
        dec_in = keras.Input((None, encoder_size + chunk), name="decoder_inputs")
        y = _lstm(decoder_size, "decoder_lstm")(dec_in)
        if dropout > 0:
            y = keras.layers.Dropout(dropout, name="decoder_dropout")(y)
        logits = keras.layers.Dense(chunk, dtype="float32", name="logits")(y)
        self.decoder = keras.Model(dec_in, logits, name="decoder")
        # === Config ===
        self.num_pitches = int(num_pitches)
        self.encoder_size = int(encoder_size)
        self.time_layers = tuple(int(s) for s in time_layers)
        self.decoder_size = int(decoder_size)
        self.key_chunk = chunk
        self.dropout = float(dropout)
        self.threshold = float(threshold)

    @property
    def key_steps(self) -> int:
        """Sequential steps of the encoder and of the decoder per frame."""
        return self.num_pitches // self.key_chunk

    def encode(self, rows: Any, training: bool | None = None) -> Any:
        """Embeddings ``[N, E]`` of rows ``[N, 2P]`` (any number of frames at once)."""
        p = self.num_pitches
        keys = keras.ops.stack([rows[:, :p], rows[:, p:]], axis=-1)  # [N, P, 2]: key-major
        keys = keras.ops.reshape(keys, (-1, self.key_steps, 2 * self.key_chunk))
        return self.encoder(keys, training=training)

    def decode(self, condition: Any, targets: Any, training: bool | None = None) -> Any:
        """Logits ``[N, P]`` of frames ``targets [N, P]`` given embeddings ``[N, E]``; each key
        chunk sees the embedding and the true chunk below it (teacher forcing)."""
        chunks = keras.ops.reshape(targets, (-1, self.key_steps, self.key_chunk))
        below = keras.ops.pad(chunks[:, :-1], ((0, 0), (1, 0), (0, 0)))
        cond = keras.ops.repeat(condition[:, None, :], self.key_steps, axis=1)
        x = keras.ops.concatenate([cond, keras.ops.cast(below, cond.dtype)], axis=-1)
        return keras.ops.reshape(self.decoder(x, training=training), (-1, self.num_pitches))

    def reconstruct(self, rows: Any, training: bool | None = None) -> Any:
        """The frame autoencoder: logits ``[N, P]`` of each row's own frame."""
        frames = rows[:, : self.num_pitches]
        return self.decode(self.encode(rows, training), frames, training)

    def call(self, inputs: Mapping[str, Any], training: bool | None = None) -> Any:
        rows, targets = inputs["rows"], inputs["targets"]
        shape = keras.ops.shape(rows)
        batch, steps = shape[0], shape[1]
        # Every frame of every row at once: the encoder's batch is B*T frames.
        flat = keras.ops.reshape(rows, (-1, 2 * self.num_pitches))
        embedded = keras.ops.reshape(self.encode(flat, training), (batch, steps, self.encoder_size))
        condition = keras.ops.reshape(
            self.time_axis(embedded, training=training), (-1, self.encoder_size)
        )
        flat_targets = keras.ops.reshape(targets, (-1, self.num_pitches))
        logits = self.decode(condition, flat_targets, training)
        return keras.ops.reshape(logits, (batch, steps, self.num_pitches))

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "num_pitches": self.num_pitches,
            "encoder_size": self.encoder_size,
            "time_layers": list(self.time_layers),
            "decoder_size": self.decoder_size,
            "key_chunk": self.key_chunk,
            "dropout": self.dropout,
            "threshold": self.threshold,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> EnDeCell:
        return cls(**config)


def example_inputs(num_pitches: int = 88, steps: int = 2, batch: int = 1) -> dict[str, tf.Tensor]:
    """Zero inputs of the model's signature (builds the model by calling it once)."""
    return {
        "rows": tf.zeros([batch, steps, 2 * num_pitches]),
        "targets": tf.zeros([batch, steps, num_pitches]),
    }


def teacher_forced(batch: Mapping[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
    """The model's inputs for a roll batch (rows of frames 0..T-2, targets 1..T-1) and the mask
    of the real *predicted* frames ``[B, T - 1]``."""
    frames = tf.cast(batch["frames"], tf.float32)
    onsets = tf.cast(batch["onsets"], tf.float32)
    rows = tf.concat([frames[:, :-1], onsets[:, :-1]], axis=-1)
    mask = tf.cast(batch["mask"], tf.float32)[:, 1:]
    return {"rows": rows, "targets": frames[:, 1:]}, mask


class EndecellFamily(RollWindows):
    """The ``endecell`` family (see the module docstring)."""

    name = "endecell"

    def build(self, cfg: ModelConfig, info: EncodingInfo) -> keras.Model:
        """A built EnDeCell (called once on zeros, so every weight exists), starting from the
        pretrained autoencoder's encoder and decoder when the config names one."""
        cfg = narrowed(cfg, EndecellConfig)
        if info.family != "pianoroll":
            raise ConfigError(f"endecell needs piano-roll examples, got {info.name!r}")
        model = EnDeCell(
            num_pitches=info.num_pitches,
            encoder_size=cfg.encoder_size,
            time_layers=cfg.time_layers,
            decoder_size=cfg.decoder_size,
            key_chunk=cfg.key_chunk,
            dropout=cfg.dropout,
            threshold=cfg.threshold,
            name="endecell",
        )
        model(example_inputs(info.num_pitches))
        if cfg.pretrained_autoencoder:
            from musicgen.models.endecell_pretrain import load_autoencoder

            load_autoencoder(model, cfg.pretrained_autoencoder)
        return model

    def batch_stats(
        self, model: keras.Model, batch: Mapping[str, tf.Tensor], training: bool
    ) -> dict[str, tf.Tensor]:
        """The teacher-forced BCE summed over keys, per real predicted frame (loss and NLL are
        the same sum: there is no reweighting option)."""
        inputs, mask = teacher_forced(batch)
        logits = model(inputs, training=training)
        targets = inputs["targets"]
        nll = tf.reduce_sum(losses.bce_with_logits(targets, logits), axis=-1)
        nll_sum = losses.masked_sum(nll, mask)
        weight = tf.reduce_sum(mask)
        return {
            LOSS_SUM: nll_sum,
            WEIGHT: weight,
            NLL_SUM: nll_sum,
            NLL_WEIGHT: weight,
            **threshold_counts(targets, logits, mask, model.threshold),
        }

    def summarize(self, totals: Mapping[str, float]) -> dict[str, float]:
        """See :func:`~musicgen.models.pianoroll_lstm.roll_summary`."""
        return roll_summary(totals)

    def custom_objects(self) -> dict[str, Any]:
        """The classes a ``.keras`` file of this family names."""
        return {"EnDeCell": EnDeCell}
