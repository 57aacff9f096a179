"""Checkpoints carry the optimizer, prune to the newest, and restore into fresh variables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musicgen.train import checkpoints as ckpts


def tiny_model_and_adam(adam_class: str = "Adam") -> tuple[object, object]:
    import keras

    from musicgen.train.optimizer import AllReducedAdam

    inputs = keras.Input((None, 3))
    model = keras.Model(
        inputs, keras.layers.Dense(2)(keras.layers.LSTM(4, return_sequences=True)(inputs))
    )
    cls = AllReducedAdam if adam_class == "AllReducedAdam" else keras.optimizers.Adam
    adam = cls(1e-2, epsilon=1e-8)
    adam.build(model.trainable_variables)
    model.compile(optimizer=adam)
    return model, adam


@pytest.mark.parametrize("saved_with", ["Adam", "AllReducedAdam"])
def test_restore_gives_back_weights_moments_and_step(tmp_path: Path, saved_with: str) -> None:
    """Also a checkpoint saved with Keras' Adam (before the step's single all-reduce) restores
    into the trainer's AllReducedAdam."""
    import tensorflow as tf

    model, adam = tiny_model_and_adam(saved_with)
    x = np.ones((2, 5, 3), np.float32)
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model(x) ** 2)
        adam.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                 model.trainable_variables, strict=True))  # fmt: skip
    folder = str(tmp_path / "checkpoints")
    for step in (10, 20, 30):
        local = tmp_path / f"local-{step}"
        local.mkdir()
        ckpts.save_checkpoint(model, folder, step, {"metrics": {"loss": 1.0}}, str(local))
    assert ckpts.prune_checkpoints(folder, keep=2) == [10]
    latest = ckpts.latest_checkpoint(folder)
    assert latest is not None
    assert [c.step for c in ckpts.list_checkpoints(folder)] == [20, 30]
    assert ckpts.read_meta(latest) == {"step": 30, "metrics": {"loss": 1.0}}

    fresh, fresh_adam = tiny_model_and_adam("AllReducedAdam")
    ckpts.restore_checkpoint(latest, fresh, fresh_adam, {})
    assert int(fresh_adam.iterations) == 3
    for a, b in zip(adam.variables + model.weights, fresh_adam.variables + fresh.weights,
                    strict=True):  # fmt: skip
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_checkpoint_without_its_json_is_not_complete(tmp_path: Path) -> None:
    (tmp_path / "ckpt-00000010.keras").write_bytes(b"half")
    assert ckpts.latest_checkpoint(str(tmp_path)) is None
    assert ckpts.latest_checkpoint(str(tmp_path / "missing")) is None


def test_restoring_into_another_shape_names_the_file(tmp_path: Path) -> None:
    import keras

    model, _ = tiny_model_and_adam()
    ckpts.save_checkpoint(model, str(tmp_path), 1, {}, str(tmp_path))
    inputs = keras.Input((None, 3))
    other = keras.Model(
        inputs, keras.layers.Dense(2)(keras.layers.LSTM(5, return_sequences=True)(inputs))
    )
    adam = keras.optimizers.Adam()
    adam.build(other.trainable_variables)
    latest = ckpts.latest_checkpoint(str(tmp_path))
    assert latest is not None
    with pytest.raises(ckpts.CheckpointError, match=r"ckpt-00000001\.keras"):
        ckpts.restore_checkpoint(latest, other, adam, {})


def test_restore_gives_back_the_loss_scale_and_its_counter(tmp_path: Path) -> None:
    """A mixed-precision run resumes with its dynamic loss scale, not the initial 2**15."""
    import keras
    import tensorflow as tf

    def tiny_model_and_loss_scale() -> tuple[keras.Model, keras.optimizers.LossScaleOptimizer]:
        inputs = keras.Input((None, 3))
        hidden = keras.layers.LSTM(4, return_sequences=True)(inputs)
        model = keras.Model(inputs, keras.layers.Dense(2, dtype="float32")(hidden))
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-2))
        optimizer.build(model.trainable_variables)
        model.compile(optimizer=optimizer)
        return model, optimizer

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model, optimizer = tiny_model_and_loss_scale()
        assert model.layers[1].compute_dtype == "float16"
        x = np.ones((2, 5, 3), np.float32)
        for _ in range(3):
            with tf.GradientTape() as tape:
                loss = optimizer.scale_loss(tf.reduce_mean(model(x) ** 2))
            optimizer.apply(tape.gradient(loss, model.trainable_variables),
                            model.trainable_variables)  # fmt: skip
        optimizer.dynamic_scale.assign(1024.0)  # as if overflows had halved it five times
        ckpts.save_checkpoint(model, str(tmp_path), 3, {}, str(tmp_path))
        latest = ckpts.latest_checkpoint(str(tmp_path))
        assert latest is not None

        fresh, fresh_optimizer = tiny_model_and_loss_scale()
        assert float(fresh_optimizer.dynamic_scale) == 2.0**15
        ckpts.restore_checkpoint(latest, fresh, fresh_optimizer, {})
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert float(fresh_optimizer.dynamic_scale) == 1024.0
    assert int(fresh_optimizer.step_counter) == 3
    assert int(fresh_optimizer.iterations) == 3
    for a, b in zip(optimizer.variables + model.weights,
                    fresh_optimizer.variables + fresh.weights, strict=True):  # fmt: skip
        np.testing.assert_array_equal(a.numpy(), b.numpy())
