"""FusedLSTM: Keras' LSTM numbers and gradients from the CPU loop, and cuDNN kept on GPU."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from benchmarks.gpu_check import cudnn_disqualifiers
from musicgen.encodings.performance_configs import get_config
from musicgen.examples.encoding_info import EncodingInfo
from musicgen.models.fused_lstm import FusedLSTM, sequence_from_ids
from musicgen.models.performance_rnn import PerformanceRNN, event_inputs
from musicgen.models.registry import get_family
from musicgen.train.config import model_config


def twin_layers(units: int, features: int) -> tuple[keras.layers.LSTM, FusedLSTM]:
    """Keras' LSTM and a FusedLSTM with the same (non-trivial) weights."""
    keras.utils.set_random_seed(4)
    plain = keras.layers.LSTM(units, return_sequences=True, unit_forget_bias=True)
    fused = FusedLSTM(units, return_sequences=True, unit_forget_bias=True)
    plain.build((None, None, features))
    fused.build((None, None, features))
    rng = np.random.default_rng(5)
    for p, f in zip(plain.weights, fused.weights, strict=True):
        value = p.numpy() + rng.normal(scale=0.3, size=p.shape).astype(np.float32)
        p.assign(value)
        f.assign(value)
    return plain, fused


def outputs_and_grads(layer: keras.layers.LSTM, x: Any, initial: Any = None) -> tuple[Any, ...]:
    """Outputs and the gradients (input, weights) of a loss on all outputs and the last one."""
    weights = np.arange(1, layer.units + 1, dtype=np.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = layer(x, initial_state=initial, training=True)
        last = out[:, -1]
        loss = tf.reduce_sum(out * weights) + tf.reduce_sum(last**2)
    grads = tape.gradient(loss, [x, *layer.trainable_weights])
    return out, *grads


def test_outputs_and_gradients_equal_keras_lstm() -> None:
    plain, fused = twin_layers(6, 5)
    x = tf.random.stateless_normal((3, 9, 5), seed=(1, 2))
    initial = [tf.random.stateless_normal((3, 6), seed=(3, i)) for i in range(2)]
    assert fused.fused_applies(None, True)
    for want, got in zip(
        outputs_and_grads(plain, x, initial), outputs_and_grads(fused, x, initial), strict=True
    ):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


def test_the_compiled_loop_equals_the_eager_one() -> None:
    _, fused = twin_layers(4, 3)
    x = tf.random.stateless_normal((2, 7, 3), seed=(0, 9))
    eager = outputs_and_grads(fused, x)
    compiled = tf.function(lambda x: outputs_and_grads(fused, x))(x)
    for a, b in zip(eager, compiled, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)


def test_gathered_rows_equal_the_one_hot_product() -> None:
    _, fused = twin_layers(4, 7)
    ids = tf.constant(np.random.default_rng(1).integers(0, 7, size=(3, 8)))
    with tf.GradientTape(persistent=True) as tape:
        one_hot = fused(tf.one_hot(ids, 7))
        gathered = sequence_from_ids(fused, ids, 7, "float32")
        losses = [tf.reduce_sum(y**2) for y in (one_hot, gathered)]
    np.testing.assert_array_equal(gathered.numpy(), one_hot.numpy())
    for a, b in zip(
        tape.gradient(losses[0], fused.trainable_weights),
        tape.gradient(losses[1], fused.trainable_weights),
        strict=True,
    ):
        np.testing.assert_allclose(tf.convert_to_tensor(b), tf.convert_to_tensor(a), atol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_runs_the_loop_in_the_compute_dtype(policy: str) -> None:
    _, reference = twin_layers(8, 5)
    x = tf.random.stateless_normal((2, 6, 5), seed=(7, 7))
    want = reference(x).numpy()
    try:
        keras.mixed_precision.set_global_policy(policy)
        layer = FusedLSTM(8, return_sequences=True, unit_forget_bias=True)
        layer.build((None, None, 5))
        for src, dst in zip(reference.weights, layer.weights, strict=True):
            dst.assign(src)
        with tf.GradientTape() as tape:
            out = layer(x)
            loss = tf.reduce_sum(tf.cast(out, tf.float32))
        grads = tape.gradient(loss, layer.trainable_weights)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert out.dtype == layer.compute_dtype != "float32"
    assert all(g.dtype == tf.float32 for g in grads)  # variables stay float32
    np.testing.assert_allclose(tf.cast(out, tf.float32).numpy(), want, atol=0.05)


def test_masks_dropout_and_gpus_leave_the_fused_loop() -> None:
    _, fused = twin_layers(4, 3)
    assert fused.fused_applies(None, training=True)
    assert not fused.fused_applies(tf.ones((2, 5), bool), training=False)
    dropping = FusedLSTM(4, dropout=0.2)
    assert dropping.fused_applies(None, training=False)
    assert not dropping.fused_applies(None, training=True)
    assert not FusedLSTM(4, go_backwards=True).fused_applies(None, False)
    assert not FusedLSTM(4, use_cudnn=True).fused_applies(None, False)


def test_a_gpu_keeps_the_cudnn_kernel() -> None:
    """Where Keras would take cuDNN, FusedLSTM does too: with a GPU it defers to Keras' inner
    loop, whose arguments qualify (no GPU here, so its presence is passed in)."""
    model = get_family("performance_rnn").build(
        model_config(layers=(8, 8)), EncodingInfo.for_performance("performance_with_dynamics")
    )
    lstms = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
    assert lstms
    assert all(isinstance(layer, FusedLSTM) for layer in lstms)
    assert all(cudnn_disqualifiers(layer) == [] for layer in lstms)
    assert all(layer.fused_applies(None, training=True, gpu=False) for layer in lstms)
    assert not any(layer.fused_applies(None, training=True, gpu=True) for layer in lstms)
    assert all(layer.fused_applies(None, training=True) for layer in lstms)  # detected: no GPU


def test_performance_rnn_from_ids_equals_its_one_hot_call() -> None:
    keras.utils.set_random_seed(2)
    for name in ("performance_with_dynamics", "performance_with_dynamics_compact"):
        model = PerformanceRNN(name, layers=(8, 6), dropout=0.1)
        config = get_config(name)
        ids = tf.constant(np.random.default_rng(3).integers(0, 388, size=(2, 10)), tf.int32)
        want = model(event_inputs(ids, config)).numpy()
        np.testing.assert_allclose(model.logits_from_ids(ids).numpy(), want, atol=1e-6)


def test_checkpoints_of_keras_lstm_models_load() -> None:
    """The variables are Keras' own: a model built with plain LSTMs loads into ours."""
    ours = PerformanceRNN("performance_with_dynamics", layers=(8, 8))
    inputs = keras.Input((None, 388))
    x = inputs
    for i in range(2):
        x = keras.layers.LSTM(8, return_sequences=True, unit_forget_bias=True, name=f"lstm_{i}")(x)
    theirs = keras.Model(inputs, keras.layers.Dense(388, name="logits")(x))
    assert [(w.path, w.shape) for w in ours.weights] == [(w.path, w.shape) for w in theirs.weights]
    ours.set_weights(theirs.get_weights())
    x = tf.one_hot(tf.constant([[3, 4, 5, 300]]), 388)
    np.testing.assert_allclose(ours(x).numpy(), theirs(x).numpy(), atol=1e-6)
