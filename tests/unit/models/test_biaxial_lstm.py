"""The biaxial LSTM on real JSB Chorales: axes, teacher forcing, NLL units, save/load."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from musicgen.encodings.biaxial import NUM_FEATURES
from musicgen.examples.encoding_info import EncodingInfo
from musicgen.models.biaxial_lstm import BiaxialLSTM, example_inputs
from musicgen.models.family import NLL_WEIGHT, WEIGHT
from musicgen.models.registry import get_family
from musicgen.train.config import DataConfig, ModelConfig, model_config
from tests.unit.models.helpers import cudnn_eligible, fit, lstm_layers, totals

FAMILY = get_family("biaxial_lstm")
KERAS_SAVE_WARNING = (
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
RANDOM_NLL = 88 * math.log(2)
WINDOW = 12


def _cfg(dropout: float = 0.0) -> ModelConfig:
    return model_config(
        family="biaxial_lstm", time_layers=(16, 16), note_layers=(12, 8), dropout=dropout
    )


def _batches(jsb: tuple[EncodingInfo, list[str]], count: int = 2) -> list:
    info, files = jsb
    data = DataConfig(dataset="x", window=WINDOW, hop=WINDOW)
    ds = FAMILY.dataset(
        files, info, data, batch_size=6, training=False, seed=0, num_shards=1, shard_index=0
    )
    return list(ds.take(count))


def test_axes_and_johnsons_dropout() -> None:
    model = FAMILY.build(_cfg(), EncodingInfo.for_pianoroll(1))
    assert isinstance(model, BiaxialLSTM)
    assert model.dropout == 0.5
    assert FAMILY.build(_cfg(dropout=0.2), EncodingInfo.for_pianoroll(1)).dropout == 0.2
    assert [layer.units for layer in lstm_layers(model.time_axis)] == [16, 16]
    assert [layer.units for layer in lstm_layers(model.note_axis)] == [12, 8]
    assert all(cudnn_eligible(layer) for layer in lstm_layers(model))
    assert model.time_axis.input_shape == (None, None, NUM_FEATURES)
    assert model.note_axis.input_shape == (None, None, 16 + 2)


def test_note_n_sees_only_lower_targets_and_the_past() -> None:
    keras.utils.set_random_seed(3)
    model = FAMILY.build(_cfg(), EncodingInfo.for_pianoroll(1))
    rng = np.random.default_rng(0)
    inputs = {
        "features": tf.constant(rng.random((1, 5, 88, NUM_FEATURES)), tf.float32),
        "targets": tf.constant(rng.random((1, 5, 88, 2)) < 0.3, tf.float32),
    }
    base = model(inputs).numpy()
    targets = inputs["targets"].numpy()
    targets[:, :, 40] = 1.0 - targets[:, :, 40]
    moved = model({**inputs, "targets": tf.constant(targets)}).numpy()
    np.testing.assert_array_equal(moved[:, :, :41], base[:, :, :41])  # note 40 and below
    assert np.abs(moved[:, :, 41:] - base[:, :, 41:]).max() > 0
    features = inputs["features"].numpy()
    features[:, 3] += 1.0
    later = model({**inputs, "features": tf.constant(features)}).numpy()
    np.testing.assert_array_equal(later[:, :3], base[:, :3])
    # A generator may run the note axis on a prefix of the keyboard: the same logits.
    time_out = model.time_outputs(inputs["features"])
    previous = np.pad(inputs["targets"].numpy()[:, :, :-1], ((0, 0), (0, 0), (1, 0), (0, 0)))
    prefix = model.note_logits(time_out[:, :, :10], previous[:, :, :10]).numpy()
    np.testing.assert_allclose(prefix, base[:, :, :10], atol=1e-6)


def test_init_nll_is_random_and_training_lowers_it(
    jsb_dataset: tuple[EncodingInfo, list[str]],
) -> None:
    keras.utils.set_random_seed(4)
    model = FAMILY.build(_cfg(dropout=0.1), jsb_dataset[0])
    batches = _batches(jsb_dataset)
    sums = totals(FAMILY, model, batches)
    real = sum(float(b["mask"][:, 1:].numpy().sum()) for b in batches)
    assert sums[NLL_WEIGHT] == sums[WEIGHT] == real
    before = FAMILY.summarize(sums)
    # About a coin flip per key; Johnson's raw MIDI-pitch feature (21..108) pushes the fresh
    # logits a little off zero, so a few nats above 61.
    assert before["nll_per_frame"] == pytest.approx(RANDOM_NLL, rel=0.1)
    # play + articulate: the articulation term counts on sounding keys only (about 4 of 88)
    extra = before["nll_play_articulate_per_frame"] - before["nll_per_frame"]
    assert 0.0 < extra < 10 * math.log(2)
    assert before["loss"] == pytest.approx(before["nll_play_articulate_per_frame"])
    fit(FAMILY, model, batches, steps=20)
    after = FAMILY.summarize(totals(FAMILY, model, batches))
    assert after["nll_per_frame"] < before["nll_per_frame"] - 20
    assert 0.0 <= after["frame_accuracy"] <= 1.0


@pytest.mark.filterwarnings(KERAS_SAVE_WARNING)
def test_save_and_load_give_the_same_outputs(
    jsb_dataset: tuple[EncodingInfo, list[str]], tmp_path: Path
) -> None:
    model = FAMILY.build(_cfg(), jsb_dataset[0])
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(
        tmp_path / "model.keras", custom_objects=FAMILY.custom_objects()
    )
    assert isinstance(loaded, BiaxialLSTM)
    assert loaded.get_config() == model.get_config()
    batch = _batches(jsb_dataset, count=1)[0]
    inputs = {
        "features": batch["features"],
        "targets": tf.stack([batch["frames"], batch["onsets"]], axis=-1),
    }
    np.testing.assert_array_equal(loaded(inputs).numpy(), model(inputs).numpy())
    want = {k: float(v) for k, v in FAMILY.batch_stats(model, batch, False).items()}
    got = {k: float(v) for k, v in FAMILY.batch_stats(loaded, batch, False).items()}
    assert got == want


def test_mixed_precision_keeps_float32_logits() -> None:
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        model = FAMILY.build(_cfg(), EncodingInfo.for_pianoroll(1))
        assert model.note_axis.get_layer("note_lstm_0").compute_dtype == "float16"
        assert model(example_inputs(steps=3, batch=2)).dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")
