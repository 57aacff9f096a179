"""A piano-roll LSTM with 88 independent sigmoid outputs: the B-L (2012) "RNN" baseline.

Step t sees frame t and its onsets (the articulation channel, so a re-struck note differs from
a held one) and predicts frame t + 1; the first frame of each window is never scored, as in the
benchmarks' code. ``nll_per_frame`` is the papers' unit: nats per frame summed over the 88 keys
(88 ln 2 = 61.0 for a coin flip), always the plain, unweighted BCE of teacher-forced predictions.

Training options (stored on the model, so they survive ``.keras`` save/load): ``loss`` bce or
focal, ``ramp_steps`` (low weight for the first predictions of a window) and ``teacher_forcing``
< 1 (scheduled sampling, done in parallel: a teacher-forced pass without gradient, Bernoulli
samples of its predictions replace a ``1 - teacher_forcing`` share of the input frames, and a
second pass gives the loss). The training loss is summed over keys per frame too, so with
``bce``, no ramp and full teacher forcing ``loss == nll_per_frame``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import keras
import tensorflow as tf

from musicgen.errors import ConfigError
from musicgen.examples.encoding_info import EncodingInfo
from musicgen.models import losses
from musicgen.models.configs.base import narrowed
from musicgen.models.configs.pianoroll_lstm import PianorollLSTMConfig
from musicgen.models.family import LOSS_SUM, NLL_SUM, NLL_WEIGHT, WEIGHT
from musicgen.models.roll_batches import RollWindows

if TYPE_CHECKING:
    from musicgen.models.configs import ModelConfig

LOSSES = ("bce", "focal")


@keras.saving.register_keras_serializable(package="musicgen")
class PianorollLSTM(keras.Model):
    """Stacked LSTMs over ``[frames | onsets]`` rows ``[B, T, 2P]`` to next-frame logits
    ``[B, T, P]`` (float32).

    Args:
        num_pitches: Roll width P (88).
        layers: LSTM sizes.
        dropout: Output dropout after each LSTM.
        loss: ``bce`` or ``focal`` (training loss only).
        focal_alpha: Focal weight of sounding keys.
        focal_gamma: Focal exponent.
        ramp_steps: Predictions of a window whose loss weight ramps up linearly (0: off).
        teacher_forcing: Share of true input frames in training (1.0: plain teacher forcing).
        threshold: Probability above which a key counts as on (frame accuracy).
    """

    def __init__(
        self,
        num_pitches: int = 88,
        layers: Sequence[int] = (512, 512),
        dropout: float = 0.0,
        loss: str = "bce",
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        ramp_steps: int = 0,
        teacher_forcing: float = 1.0,
        threshold: float = 0.5,
        **kwargs: Any,
    ) -> None:
        if loss not in LOSSES:
            raise ConfigError(f"loss must be one of {LOSSES}, got {loss!r}")
        # === Functional Model ===
        inputs = keras.Input((None, 2 * num_pitches), name="inputs")
        x = inputs
        for i, size in enumerate(layers):
            # The defaults (tanh, sigmoid, no recurrent dropout, no unroll) keep cuDNN eligible.
            x = keras.layers.LSTM(
                size, return_sequences=True, unit_forget_bias=True, name=f"lstm_{i}"
            )(x)
            if dropout > 0:
                x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
        logits = keras.layers.Dense(num_pitches, dtype="float32", name="logits")(x)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        # === Config ===
        self.num_pitches = int(num_pitches)
        self.layer_sizes = tuple(int(s) for s in layers)
        self.dropout = float(dropout)
        self.loss_name = loss
        self.focal_alpha = float(focal_alpha)
        self.focal_gamma = float(focal_gamma)
        self.ramp_steps = int(ramp_steps)
        self.teacher_forcing = float(teacher_forcing)
        self.threshold = float(threshold)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "num_pitches": self.num_pitches,
            "layers": list(self.layer_sizes),
            "dropout": self.dropout,
            "loss": self.loss_name,
            "focal_alpha": self.focal_alpha,
            "focal_gamma": self.focal_gamma,
            "ramp_steps": self.ramp_steps,
            "teacher_forcing": self.teacher_forcing,
            "threshold": self.threshold,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PianorollLSTM:
        return cls(**config)


def onsets_of(frames: tf.Tensor) -> tf.Tensor:
    """Onsets where only frames are known: a key starts where it was silent the step before."""
    prev = tf.pad(frames[:, :-1], [[0, 0], [1, 0], [0, 0]])
    return frames * (1.0 - prev)


def scheduled_inputs(
    frames: tf.Tensor, onsets: tf.Tensor, probs: tf.Tensor, ratio: float
) -> tuple[tf.Tensor, tf.Tensor]:
    """Input frames ``[B, T, P]`` with a ``1 - ratio`` share replaced by Bernoulli samples of
    ``probs`` (the predictions of the frames, ``probs[:, t]`` for frame ``t + 1``).

    Frame 0 is never a prediction and stays; whole frames are replaced, chosen independently per
    (example, step). A replaced frame's onsets are derived from the mixed sequence (the model
    does not predict onsets); true frames keep their true onsets.
    """
    sampled = tf.cast(tf.random.uniform(tf.shape(probs)) < probs, frames.dtype)
    sampled = tf.concat([frames[:, :1], sampled[:, :-1]], axis=1)
    shape = tf.shape(frames)[:2]
    replace = tf.random.uniform(shape) >= ratio
    replace = tf.concat([tf.zeros_like(replace[:, :1]), replace[:, 1:]], axis=1)[..., None]
    mixed = tf.where(replace, sampled, frames)
    return mixed, tf.where(replace, onsets_of(mixed), onsets)


def threshold_counts(
    targets: tf.Tensor, logits: tf.Tensor, mask: tf.Tensor, threshold: float
) -> dict[str, tf.Tensor]:
    """True/false positives and false negatives of ``sigmoid(logits) > threshold``, summed over
    real frames: Bay et al.'s frame accuracy is ``tp / (tp + fp + fn)`` of the totals."""
    on = tf.cast(tf.cast(logits, tf.float32) > math.log(threshold / (1.0 - threshold)), tf.float32)
    targets = tf.cast(targets, tf.float32)
    return {
        "tp": losses.masked_sum(on * targets, mask),
        "fp": losses.masked_sum(on * (1.0 - targets), mask),
        "fn": losses.masked_sum((1.0 - on) * targets, mask),
    }


def ratio(num: float, den: float) -> float:
    """``num / den``, NaN for an empty denominator."""
    return num / den if den else math.nan


def roll_summary(totals: Mapping[str, float]) -> dict[str, float]:
    """loss, nll_per_frame (nats, 88-key sum), log_likelihood (its negative, B-L's sign) and
    frame_accuracy (Bay et al.)."""
    nll = ratio(totals[NLL_SUM], totals[NLL_WEIGHT])
    return {
        "loss": ratio(totals[LOSS_SUM], totals[WEIGHT]),
        "nll_per_frame": nll,
        "log_likelihood": -nll,
        "frame_accuracy": ratio(totals["tp"], totals["tp"] + totals["fp"] + totals["fn"]),
    }


class PianorollLSTMFamily(RollWindows):
    """The ``pianoroll_lstm`` family (see the module docstring)."""

    name = "pianoroll_lstm"

    def build(self, cfg: ModelConfig, info: EncodingInfo) -> keras.Model:
        """A built PianorollLSTM of the folder's roll width."""
        cfg = narrowed(cfg, PianorollLSTMConfig)
        if info.family != "pianoroll":
            raise ConfigError(f"pianoroll_lstm needs piano-roll examples, got {info.name!r}")
        return PianorollLSTM(
            num_pitches=info.num_pitches,
            layers=cfg.layers,
            dropout=cfg.dropout,
            loss=cfg.loss,
            focal_alpha=cfg.focal_alpha,
            focal_gamma=cfg.focal_gamma,
            ramp_steps=cfg.ramp_steps,
            teacher_forcing=cfg.teacher_forcing,
            threshold=cfg.threshold,
            name="pianoroll_lstm",
        )

    def batch_stats(
        self, model: keras.Model, batch: Mapping[str, tf.Tensor], training: bool
    ) -> dict[str, tf.Tensor]:
        """The (possibly focal, ramped, scheduled-sampling) loss and the plain NLL, as sums."""
        frames = tf.cast(batch["frames"], tf.float32)
        onsets = tf.cast(batch["onsets"], tf.float32)
        mask = tf.cast(batch["mask"], tf.float32)[:, 1:]  # real *predicted* frames
        targets = frames[:, 1:]
        in_frames, in_onsets = frames[:, :-1], onsets[:, :-1]
        logits = model(tf.concat([in_frames, in_onsets], axis=-1), training=training)
        forced_logits = logits  # teacher-forced: what the NLL and the accuracy report
        if training and model.teacher_forcing < 1.0:
            probs = tf.sigmoid(tf.stop_gradient(logits))
            mixed, mixed_onsets = scheduled_inputs(
                in_frames, in_onsets, probs, model.teacher_forcing
            )
            forced_logits = tf.stop_gradient(logits)
            logits = model(tf.concat([mixed, mixed_onsets], axis=-1), training=training)
        if model.loss_name == "focal":
            elements = losses.focal_with_logits(
                targets, logits, model.focal_alpha, model.focal_gamma
            )
        else:
            elements = losses.bce_with_logits(targets, logits)
        weights = mask
        if training and model.ramp_steps > 0:
            weights = mask * losses.ramp_weights(tf.shape(mask)[1], model.ramp_steps)[None, :]
        nll = tf.reduce_sum(losses.bce_with_logits(targets, forced_logits), axis=-1)
        return {
            LOSS_SUM: losses.masked_sum(tf.reduce_sum(elements, axis=-1), weights),
            WEIGHT: tf.reduce_sum(weights),
            NLL_SUM: losses.masked_sum(nll, mask),
            NLL_WEIGHT: tf.reduce_sum(mask),
            **threshold_counts(targets, forced_logits, mask, model.threshold),
        }

    def summarize(self, totals: Mapping[str, float]) -> dict[str, float]:
        """See :func:`roll_summary`."""
        return roll_summary(totals)

    def custom_objects(self) -> dict[str, Any]:
        """The classes a ``.keras`` file of this family names."""
        return {"PianorollLSTM": PianorollLSTM}
