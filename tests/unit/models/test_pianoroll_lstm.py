"""The piano-roll LSTM on real JSB Chorales: papers' NLL unit, loss options, save/load."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from musicgen.errors import ConfigError
from musicgen.examples.encoding_info import EncodingInfo
from musicgen.models.family import LOSS_SUM, NLL_SUM, NLL_WEIGHT, WEIGHT
from musicgen.models.pianoroll_lstm import PianorollLSTM, scheduled_inputs
from musicgen.models.registry import get_family
from musicgen.train.config import DataConfig, ModelConfig, model_config
from tests.unit.models.helpers import cudnn_eligible, fit, lstm_layers, totals

FAMILY = get_family("pianoroll_lstm")
KERAS_SAVE_WARNING = (
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
RANDOM_NLL = 88 * math.log(2)  # 61.0: B-L's "Random" row
WINDOW = 16


def _cfg(**kwargs: object) -> ModelConfig:
    return model_config(family="pianoroll_lstm", layers=(32, 32), **kwargs)  # type: ignore[arg-type]


def _batches(jsb: tuple[EncodingInfo, list[str]], count: int = 3) -> list:
    info, files = jsb
    data = DataConfig(dataset="x", window=WINDOW, hop=WINDOW)
    ds = FAMILY.dataset(
        files, info, data, batch_size=8, training=False, seed=0, num_shards=1, shard_index=0
    )
    return list(ds.take(count))


def test_init_nll_is_random_and_training_lowers_it(
    jsb_dataset: tuple[EncodingInfo, list[str]],
) -> None:
    keras.utils.set_random_seed(1)
    model = FAMILY.build(_cfg(), jsb_dataset[0])
    assert all(cudnn_eligible(layer) for layer in lstm_layers(model))
    batches = _batches(jsb_dataset)
    sums = totals(FAMILY, model, batches)
    real = sum(float(b["mask"][:, 1:].numpy().sum()) for b in batches)
    assert sums[NLL_WEIGHT] == sums[WEIGHT] == real  # every real frame but a window's first
    before = FAMILY.summarize(sums)
    assert before["nll_per_frame"] == pytest.approx(RANDOM_NLL, abs=2.0)
    assert before["loss"] == before["nll_per_frame"]  # bce, no ramp, teacher forced
    assert before["log_likelihood"] == -before["nll_per_frame"]
    fit(FAMILY, model, batches, steps=25)
    after = FAMILY.summarize(totals(FAMILY, model, batches))
    assert after["nll_per_frame"] < 20.0
    assert 0.0 <= before["frame_accuracy"] <= 1.0
    assert 0.0 <= after["frame_accuracy"] <= 1.0


def test_options_train_and_leave_the_nll_unweighted(
    jsb_dataset: tuple[EncodingInfo, list[str]],
) -> None:
    keras.utils.set_random_seed(2)
    info = jsb_dataset[0]
    model = FAMILY.build(_cfg(loss="focal", ramp_steps=4, teacher_forcing=0.7), info)
    plain = FAMILY.build(_cfg(), info)
    plain.set_weights(model.get_weights())
    batches = _batches(jsb_dataset)
    # Eval: the same NLL whatever the training loss; the focal loss is smaller than the BCE.
    fancy, base = totals(FAMILY, model, batches), totals(FAMILY, plain, batches)
    assert fancy[NLL_SUM] == pytest.approx(base[NLL_SUM], rel=1e-6)
    assert fancy[WEIGHT] == base[WEIGHT]
    assert fancy[LOSS_SUM] < base[LOSS_SUM]
    # Training: the ramp lowers the weight of the first predictions, not the NLL's count.
    stats = FAMILY.batch_stats(model, batches[0], training=True)
    assert float(stats[WEIGHT]) < float(stats[NLL_WEIGHT])
    before = FAMILY.summarize(fancy)["nll_per_frame"]
    losses = fit(FAMILY, model, batches, steps=25)
    assert all(np.isfinite(losses))
    assert FAMILY.summarize(totals(FAMILY, model, batches))["nll_per_frame"] < before - 20


def test_scheduled_inputs() -> None:
    frames = tf.constant(np.random.default_rng(0).random((2, 6, 4)) < 0.5, tf.float32)
    onsets = frames * 0.0
    same = scheduled_inputs(frames, onsets, tf.zeros([2, 6, 4]), ratio=1.0)
    np.testing.assert_array_equal(same[0], frames)
    np.testing.assert_array_equal(same[1], onsets)
    mixed, mixed_onsets = scheduled_inputs(frames, onsets, tf.ones([2, 6, 4]), ratio=0.0)
    np.testing.assert_array_equal(mixed[:, 0], frames[:, 0])  # never a prediction
    np.testing.assert_array_equal(mixed[:, 1:], np.ones((2, 5, 4)))
    expected = np.asarray(mixed[:, 1:]) * (1 - np.asarray(mixed[:, :-1]))
    np.testing.assert_array_equal(mixed_onsets[:, 1:], expected)


def test_refuses_performance_examples() -> None:
    with pytest.raises(ConfigError, match="piano-roll"):
        FAMILY.build(_cfg(), EncodingInfo.for_performance("performance"))


@pytest.mark.filterwarnings(KERAS_SAVE_WARNING)
def test_save_and_load_give_the_same_outputs(
    jsb_dataset: tuple[EncodingInfo, list[str]], tmp_path: Path
) -> None:
    model = FAMILY.build(_cfg(dropout=0.2, loss="focal", ramp_steps=3, teacher_forcing=0.9),
                         jsb_dataset[0])  # fmt: skip
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(
        tmp_path / "model.keras", custom_objects=FAMILY.custom_objects()
    )
    assert isinstance(loaded, PianorollLSTM)
    assert loaded.get_config() == model.get_config()
    batch = _batches(jsb_dataset, count=1)[0]
    inputs = tf.concat([batch["frames"], batch["onsets"]], axis=-1)
    np.testing.assert_array_equal(loaded(inputs).numpy(), model(inputs).numpy())


def test_mixed_precision_keeps_float32_logits() -> None:
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        model = FAMILY.build(_cfg(), EncodingInfo.for_pianoroll(1))
        assert model.get_layer("lstm_0").compute_dtype == "float16"
        assert model(tf.zeros([2, 5, 176])).dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")
