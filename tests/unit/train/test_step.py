"""The distributed train step under float16: loss scaling skips overflowing updates, then trains.

One replica (the default strategy); 1 and 2 workers are compared through Ray Train in
tests/integration/test_train_worker_equivalence.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from musicgen.train.config import OptimizerConfig


@pytest.fixture
def mixed_float16() -> Iterator[None]:
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def roll_batch(batch: int = 4, frames: int = 12, pitches: int = 8) -> dict[str, Any]:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    rolls = (rng.random((batch, frames, pitches)) < 0.3).astype(np.float32)
    return {"frames": tf.constant(rolls), "onsets": tf.constant(rolls),
            "mask": tf.ones((batch, frames))}  # fmt: skip


@pytest.mark.usefixtures("mixed_float16")
def test_build_optimizer_scales_the_loss_only_under_mixed_precision() -> None:
    import keras

    from musicgen.train.step import build_optimizer, optimizer_state

    scaled = build_optimizer(OptimizerConfig(), mixed_precision=True)
    assert isinstance(scaled, keras.optimizers.LossScaleOptimizer)
    assert not isinstance(build_optimizer(OptimizerConfig(), False),
                          keras.optimizers.LossScaleOptimizer)  # fmt: skip
    scaled.build([keras.Variable(np.zeros(2, np.float32))])
    assert optimizer_state(scaled) == {"optimizer_iterations": 0.0, "loss_scale": 2.0**15}


@pytest.mark.usefixtures("mixed_float16")
def test_an_overflowing_loss_scale_skips_updates_halves_and_then_trains() -> None:
    import keras
    import tensorflow as tf

    from musicgen.models.family import LOSS_SUM, WEIGHT
    from musicgen.models.pianoroll_lstm import PianorollLSTM, PianorollLSTMFamily
    from musicgen.train.step import make_train_step

    keras.utils.set_random_seed(0)
    model = PianorollLSTM(num_pitches=8, layers=(8,))
    assert model.get_layer("lstm_0").compute_dtype == "float16"
    # 2**40 times the loss overflows float16 in the backward pass; Keras' default is 2**15.
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-2),
                                                    initial_scale=2.0**40)  # fmt: skip
    optimizer.build(model.trainable_variables)
    batch = roll_batch()
    spec = {k: tf.TensorSpec.from_tensor(v) for k, v in batch.items()}
    step = make_train_step(tf.distribute.get_strategy(), PianorollLSTMFamily(), model, optimizer,
                           OptimizerConfig(), spec)  # fmt: skip
    before = [w.numpy() for w in model.trainable_weights]

    first = step(batch)
    assert np.isfinite(float(first[LOSS_SUM]))  # the loss is float32; its float16 grads are not
    assert float(optimizer.dynamic_scale) == 2.0**39
    assert int(optimizer.iterations) == 0  # skipped: nothing applied
    for a, b in zip(before, model.trainable_weights, strict=True):
        np.testing.assert_array_equal(a, b.numpy())

    losses = [float(s[LOSS_SUM] / s[WEIGHT]) for s in (step(batch) for _ in range(39))]
    skipped = 40 - int(optimizer.iterations)
    assert 10 < skipped < 39
    assert float(optimizer.dynamic_scale) == 2.0 ** (40 - skipped)
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[skipped - 1]  # once updates apply, the loss falls
    assert all(np.isfinite(w.numpy()).all() for w in model.trainable_weights)
