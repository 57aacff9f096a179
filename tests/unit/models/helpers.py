"""A plain GradientTape loop and stat totals, standing in for the distributed trainer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import keras
import tensorflow as tf

from musicgen.models.family import LOSS_SUM, NLL_SUM, NLL_WEIGHT, WEIGHT, ModelFamily

REQUIRED = (LOSS_SUM, WEIGHT, NLL_SUM, NLL_WEIGHT)


def totals(
    family: ModelFamily, model: keras.Model, batches: Iterable[Mapping[str, Any]]
) -> dict[str, float]:
    """Eval stats summed over batches (as the trainer adds them up)."""
    out: dict[str, float] = {}
    for batch in batches:
        stats = family.batch_stats(model, batch, training=False)
        assert set(REQUIRED) <= set(stats)
        for key, value in stats.items():
            assert value.shape == (), key
            assert value.dtype == tf.float32, key
            out[key] = out.get(key, 0.0) + float(value)
    return out


def fit(
    family: ModelFamily,
    model: keras.Model,
    batches: list[Mapping[str, Any]],
    steps: int,
    learning_rate: float = 1e-2,
) -> list[float]:
    """``steps`` Adam steps (Magenta's epsilon and per-tensor clipping) cycling over
    ``batches``; returns the training losses."""
    optimizer = keras.optimizers.Adam(learning_rate, epsilon=1e-8, clipnorm=3.0)

    @tf.function(reduce_retracing=True)
    def step(batch: Mapping[str, tf.Tensor]) -> tf.Tensor:
        with tf.GradientTape() as tape:
            stats = family.batch_stats(model, batch, training=True)
            loss = stats[LOSS_SUM] / stats[WEIGHT]
        variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        assert all(g is not None for g in grads)
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return loss

    return [float(step(batches[i % len(batches)])) for i in range(steps)]


def cudnn_eligible(layer: keras.layers.LSTM) -> bool:
    """Keras' conditions for the cuDNN kernel (besides the mask)."""
    return (
        layer.cell.activation is keras.activations.tanh
        and layer.cell.recurrent_activation is keras.activations.sigmoid
        and layer.cell.recurrent_dropout == 0
        and not layer.unroll
        and layer.cell.use_bias
        and layer.use_cudnn in ("auto", True)
    )


def lstm_layers(model: keras.Model) -> list[keras.layers.LSTM]:
    """Every LSTM in the model, sub-models included."""
    found = []
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.LSTM):
            found.append(layer)
    return found
