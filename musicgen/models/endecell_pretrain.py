"""Pretraining EnDeCell's encoder and decoder as a frame autoencoder, and its weight files.

A frame's embedding must keep what the decoder needs to write the frame back; learning that
first, on frames alone, is cheap (no time axis) and gives the full model a keyboard code to
start from instead of noise. The file is an ``.npz`` (arrays ``encoder/<i>``, ``decoder/<i>``
and a JSON ``meta`` of the shapes that must match), written and read through
:mod:`musicgen.storage`, so a ``gs://`` URI never reaches a TensorFlow file API; loading into a
model with another geometry fails with a ConfigError naming the mismatch.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from musicgen import storage
from musicgen.errors import ConfigError
from musicgen.models import losses
from musicgen.models.configs.endecell import EndecellConfig
from musicgen.models.endecell import EnDeCell, EndecellFamily
from musicgen.models.family import LOSS_SUM, NLL_SUM, NLL_WEIGHT, WEIGHT

if TYPE_CHECKING:
    from musicgen.examples.encoding_info import EncodingInfo
    from musicgen.train.config import DataConfig

FORMAT = "musicgen-endecell-autoencoder/1"
_GEOMETRY = ("num_pitches", "encoder_size", "decoder_size", "key_chunk")


def autoencoder_stats(model: EnDeCell, batch: Mapping[str, tf.Tensor], training: bool) -> dict:
    """Reconstruction BCE summed over keys, over every real frame of a roll batch (frame 0
    included: nothing is predicted across time), as sums like a family's ``batch_stats``."""
    frames = tf.cast(batch["frames"], tf.float32)
    onsets = tf.cast(batch["onsets"], tf.float32)
    p = model.num_pitches
    rows = tf.reshape(tf.concat([frames, onsets], axis=-1), [-1, 2 * p])
    mask = tf.reshape(tf.cast(batch["mask"], tf.float32), [-1])
    logits = model.reconstruct(rows, training=training)
    nll = tf.reduce_sum(losses.bce_with_logits(rows[:, :p], logits), axis=-1)
    total = losses.masked_sum(nll, mask)
    weight = tf.reduce_sum(mask)
    return {LOSS_SUM: total, WEIGHT: weight, NLL_SUM: total, NLL_WEIGHT: weight}


def reconstruction_nll(model: EnDeCell, batches: Iterable[Mapping[str, tf.Tensor]]) -> float:
    """Mean reconstruction NLL (nats per frame over the keys) of ``batches``."""
    total = weight = 0.0
    for batch in batches:
        stats = autoencoder_stats(model, batch, training=False)
        total += float(stats[NLL_SUM])
        weight += float(stats[NLL_WEIGHT])
    return total / weight if weight else float("nan")


def autoencoder_variables(model: EnDeCell) -> list[Any]:
    """The encoder's and the decoder's trainable variables (the time axis is not touched)."""
    return [*model.encoder.trainable_variables, *model.decoder.trainable_variables]


def pretrain_autoencoder(
    model: EnDeCell,
    batches: Iterable[Mapping[str, tf.Tensor]],
    *,
    steps: int,
    learning_rate: float = 1e-3,
    clip_norm: float = 5.0,
) -> list[float]:
    """``steps`` Adam steps on the reconstruction loss (cycling over ``batches``, which may be
    an endless dataset); returns the per-step losses (nats per frame)."""
    if steps < 1:
        raise ConfigError(f"pretraining steps must be >= 1, got {steps}")
    optimizer = keras.optimizers.Adam(learning_rate, global_clipnorm=clip_norm)
    variables = autoencoder_variables(model)

    @tf.function(reduce_retracing=True)
    def step(batch: Mapping[str, tf.Tensor]) -> tf.Tensor:
        with tf.GradientTape() as tape:
            stats = autoencoder_stats(model, batch, training=True)
            loss = stats[LOSS_SUM] / tf.maximum(stats[WEIGHT], 1.0)
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return loss

    out: list[float] = []
    while len(out) < steps:
        before = len(out)
        for batch in batches:
            out.append(float(step(batch)))
            if len(out) == steps:
                break
        if len(out) == before:
            raise ConfigError("pretraining got no batches")
    return out


def _geometry(model: EnDeCell) -> dict[str, int]:
    return {key: int(getattr(model, key)) for key in _GEOMETRY}


def save_autoencoder(model: EnDeCell, uri: str) -> None:
    """Writes the encoder's and the decoder's weights to ``uri`` (local or ``gs://``)."""
    arrays: dict[str, np.ndarray] = {
        "meta": np.array(json.dumps({"format": FORMAT, **_geometry(model)}))
    }
    for part in ("encoder", "decoder"):
        for i, w in enumerate(getattr(model, part).get_weights()):
            arrays[f"{part}/{i}"] = np.asarray(w)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    storage.write_bytes(uri, buffer.getvalue())


def load_autoencoder(model: EnDeCell, uri: str) -> None:
    """Sets the model's encoder and decoder weights from a file of :func:`save_autoencoder`.

    Raises:
        ConfigError: The file is not such a file, or was saved for another geometry (width,
            encoder/decoder size, key chunk).
    """
    try:
        with np.load(io.BytesIO(storage.read_bytes(uri)), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"model.pretrained_autoencoder: {uri} is not an autoencoder file"
        ) from exc
    if meta.get("format") != FORMAT:
        raise ConfigError(f"model.pretrained_autoencoder: {uri} is not an autoencoder file")
    wanted = _geometry(model)
    saved = {key: meta.get(key) for key in _GEOMETRY}
    if saved != wanted:
        raise ConfigError(
            f"model.pretrained_autoencoder: {uri} was saved for {saved}, the model has {wanted}"
        )
    for part in ("encoder", "decoder"):
        sub = getattr(model, part)
        sub.set_weights([arrays[f"{part}/{i}"] for i in range(len(sub.get_weights()))])


def run_pretraining(
    cfg: EndecellConfig,
    info: EncodingInfo,
    files: Sequence[str],
    data: DataConfig,
    output: str,
    *,
    steps: int,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Builds a model of ``cfg``'s geometry, pretrains its autoencoder on the windows of
    ``files`` (shuffled, repeated) and saves it to ``output``, the value for
    ``model.pretrained_autoencoder``. Returns the per-step losses."""
    family = EndecellFamily()
    keras.utils.set_random_seed(seed)
    model = family.build(cfg, info)
    dataset = family.dataset(
        files,
        info,
        data,
        batch_size=batch_size,
        training=True,
        seed=seed,
        num_shards=1,
        shard_index=0,
    )
    history = pretrain_autoencoder(model, dataset, steps=steps, learning_rate=learning_rate)
    save_autoencoder(model, output)
    return history
