"""EnDeCell on tiny models and real JSB Chorales: shapes, masking, NLL sums, key-autoregression,
batched encoding, training, save/load and autoencoder pretraining."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from musicgen.errors import ConfigError
from musicgen.examples.encoding_info import EncodingInfo
from musicgen.models.configs.endecell import EndecellConfig
from musicgen.models.endecell import EnDeCell, example_inputs
from musicgen.models.endecell_pretrain import (
    autoencoder_variables,
    load_autoencoder,
    reconstruction_nll,
    run_pretraining,
)
from musicgen.models.family import LOSS_SUM, NLL_SUM, NLL_WEIGHT, WEIGHT
from musicgen.models.registry import get_family
from musicgen.train.config import DataConfig, OptimizerConfig
from musicgen.train.step import build_optimizer, make_train_step
from tests.unit.models.helpers import cudnn_eligible, fit, lstm_layers, totals

FAMILY = get_family("endecell")
KERAS_SAVE_WARNING = (
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
RANDOM_NLL = 88 * math.log(2)
WINDOW = 16
P = 88


def _cfg(**kwargs: object) -> EndecellConfig:
    values: dict = {"encoder_size": 16, "time_layers": (16,), "decoder_size": 16, **kwargs}
    return EndecellConfig(**values)


def _model(key_chunk: int = 1, seed: int = 0) -> EnDeCell:
    keras.utils.set_random_seed(seed)
    model = EnDeCell(encoder_size=8, time_layers=(8,), decoder_size=8, key_chunk=key_chunk)
    model(example_inputs())
    return model


def _data() -> DataConfig:
    return DataConfig(dataset="x", window=WINDOW, hop=WINDOW)


def _batches(jsb: tuple[EncodingInfo, list[str]], count: int = 2) -> list:
    info, files = jsb
    ds = FAMILY.dataset(
        files, info, _data(), batch_size=8, training=False, seed=0, num_shards=1, shard_index=0
    )
    return list(ds.take(count))


def _random_batch(batch: int = 2, steps: int = 5, seed: int = 0) -> dict[str, tf.Tensor]:
    rng = np.random.default_rng(seed)
    frames = (rng.random((batch, steps, P)) < 0.1).astype(np.float32)
    prev = np.concatenate([np.zeros_like(frames[:, :1]), frames[:, :-1]], axis=1)
    mask = np.ones((batch, steps), np.float32)
    mask[1, 3:] = 0.0  # row 1 is padded after 3 frames
    frames[1, 3:] = 0.0
    onsets = frames * (1 - prev)
    return {
        "frames": tf.constant(frames),
        "onsets": tf.constant(onsets),
        "mask": tf.constant(mask),
    }


def test_config_checks_key_chunk_and_family_registers() -> None:
    for chunk in (1, 2, 4, 8, 11, 22, 44):
        assert EndecellConfig(key_chunk=chunk).key_chunk == chunk
    for chunk in (0, 3, 5, 88):
        with pytest.raises(ConfigError, match=r"^model\.key_chunk must divide 88"):
            EndecellConfig(key_chunk=chunk)
    with pytest.raises(ConfigError, match=r"^model\.encoder_size"):
        EndecellConfig(encoder_size=0)
    with pytest.raises(ConfigError, match=r"^model\.pretrained_autoencoder"):
        EndecellConfig(pretrained_autoencoder="")
    with pytest.raises(ConfigError, match="key_chunk"):
        EnDeCell(key_chunk=3)
    assert FAMILY.name == "endecell"
    assert FAMILY.custom_objects() == {"EnDeCell": EnDeCell}
    with pytest.raises(ConfigError, match="piano-roll"):
        FAMILY.build(_cfg(), EncodingInfo.for_performance("performance"))


def test_shapes_cudnn_and_float32_logits_under_mixed_precision() -> None:
    model = FAMILY.build(_cfg(key_chunk=4), EncodingInfo.for_pianoroll(1))
    assert all(cudnn_eligible(layer) for layer in lstm_layers(model))
    assert model.encoder.input_shape == (None, None, 8)  # 4 keys x (frame, onset)
    assert model.decoder.output_shape == (None, None, 4)
    assert model(example_inputs(steps=3, batch=2)).shape == (2, 3, P)
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        mixed = FAMILY.build(_cfg(), EncodingInfo.for_pianoroll(1))
        assert mixed.decoder.get_layer("decoder_lstm").compute_dtype == "float16"
        assert mixed(example_inputs(steps=3)).dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_stats_are_masked_sums_of_the_teacher_forced_bce() -> None:
    model = _model()
    batch = _random_batch()
    stats = FAMILY.batch_stats(model, batch, training=False)
    frames, onsets = batch["frames"].numpy(), batch["onsets"].numpy()
    rows = np.concatenate([frames[:, :-1], onsets[:, :-1]], axis=-1)
    logits = model({"rows": rows, "targets": frames[:, 1:]}).numpy().astype(np.float64)
    y = frames[:, 1:]
    bce = np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits)))
    mask = batch["mask"].numpy()[:, 1:]  # frame 0 is never scored
    assert float(stats[NLL_WEIGHT]) == float(stats[WEIGHT]) == 4 + 2
    expected = (bce.sum(-1) * mask).sum()
    assert float(stats[NLL_SUM]) == pytest.approx(expected, rel=1e-5)
    assert float(stats[LOSS_SUM]) == float(stats[NLL_SUM])
    # Padded frames change nothing, whatever they hold.
    noisy = dict(batch)
    noise = (np.random.default_rng(1).random(frames.shape) < 0.5).astype(np.float32)
    pad = (batch["mask"].numpy() == 0)[..., None]
    noisy["frames"] = tf.constant(np.where(pad, noise, frames))
    noisy["onsets"] = tf.constant(np.where(pad, noise, onsets))
    again = FAMILY.batch_stats(model, noisy, training=False)
    for key in (NLL_SUM, WEIGHT, "tp", "fp", "fn"):
        assert float(again[key]) == pytest.approx(float(stats[key]), rel=1e-6), key


@pytest.mark.parametrize("key_chunk", [1, 4])
def test_decoder_sees_only_lower_keys_and_time_is_causal(key_chunk: int) -> None:
    model = _model(key_chunk)
    inputs = {k: v.numpy() for k, v in example_inputs(steps=4, batch=1).items()}
    rng = np.random.default_rng(3)
    inputs["targets"] = (rng.random((1, 4, P)) < 0.3).astype(np.float32)
    base = model(inputs).numpy()
    for key in (0, 17, 50):
        flipped = {**inputs, "targets": inputs["targets"].copy()}
        flipped["targets"][0, 2, key] = 1 - flipped["targets"][0, 2, key]
        changed = np.abs(model(flipped).numpy() - base)[0] > 1e-7  # [T, P]
        first_after = (key // key_chunk + 1) * key_chunk  # the next chunk up
        assert not changed[[0, 1, 3]].any()  # other frames: untouched
        assert not changed[2, :first_after].any()  # this chunk and the keys below: untouched
        assert changed[2, first_after:].any()
    # An input frame only moves its own and later predictions.
    later = {**inputs, "rows": inputs["rows"].copy()}
    later["rows"][0, 2, 40] = 1.0
    moved = np.abs(model(later).numpy() - base).max(axis=-1)[0] > 1e-7
    assert moved.tolist() == [False, False, True, True]


def test_encoder_over_all_frames_equals_one_frame_at_a_time() -> None:
    model = _model(key_chunk=2)
    rows = (np.random.default_rng(5).random((6, 2 * P)) < 0.2).astype(np.float32)
    together = model.encode(rows).numpy()
    alone = np.concatenate([model.encode(rows[i : i + 1]).numpy() for i in range(6)])
    np.testing.assert_allclose(together, alone, atol=1e-6)
    # The key-major layout: chunk j of the encoder input holds keys 2j, 2j + 1 (frame, onset).
    keys = np.stack([rows[:, :P], rows[:, P:]], axis=-1).reshape(6, P // 2, 4)
    np.testing.assert_allclose(model.encoder(keys).numpy(), together, atol=1e-6)


@pytest.mark.parametrize("key_chunk", [1, 4])
def test_adam_steps_lower_the_nll_on_real_chorales(
    key_chunk: int, jsb_dataset: tuple[EncodingInfo, list[str]]
) -> None:
    keras.utils.set_random_seed(1)
    model = FAMILY.build(_cfg(key_chunk=key_chunk), jsb_dataset[0])
    batches = _batches(jsb_dataset)
    sums = totals(FAMILY, model, batches)
    real = sum(float(b["mask"][:, 1:].numpy().sum()) for b in batches)
    assert sums[NLL_WEIGHT] == sums[WEIGHT] == real
    before = FAMILY.summarize(sums)
    assert before["nll_per_frame"] == pytest.approx(RANDOM_NLL, abs=3.0)
    losses = fit(FAMILY, model, batches, steps=12)
    assert all(np.isfinite(losses))
    after = FAMILY.summarize(totals(FAMILY, model, batches))
    assert after["nll_per_frame"] < before["nll_per_frame"] - 20
    assert 0.0 <= after["frame_accuracy"] <= 1.0


@pytest.mark.filterwarnings(KERAS_SAVE_WARNING)
def test_save_and_load_give_the_same_outputs(tmp_path: Path) -> None:
    model = FAMILY.build(
        _cfg(dropout=0.2, key_chunk=8, threshold=0.4), EncodingInfo.for_pianoroll(1)
    )
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(
        tmp_path / "model.keras", custom_objects=FAMILY.custom_objects()
    )
    assert isinstance(loaded, EnDeCell)
    assert loaded.get_config() == model.get_config()
    batch = _random_batch()
    np.testing.assert_array_equal(
        FAMILY.batch_stats(loaded, batch, training=False)[NLL_SUM].numpy(),
        FAMILY.batch_stats(model, batch, training=False)[NLL_SUM].numpy(),
    )


def test_pretraining_lowers_reconstruction_and_loads_into_the_full_model(
    jsb_dataset: tuple[EncodingInfo, list[str]], tmp_path: Path
) -> None:
    info, files = jsb_dataset
    cfg = _cfg(key_chunk=4)
    batches = _batches(jsb_dataset)
    keras.utils.set_random_seed(0)
    fresh = FAMILY.build(cfg, info)
    before = reconstruction_nll(fresh, batches)
    path = str(tmp_path / "autoencoder.npz")
    history = run_pretraining(
        cfg, info, files, _data(), path, steps=30, batch_size=8, learning_rate=1e-2, seed=0
    )
    assert len(history) == 30
    assert all(np.isfinite(history))
    keras.utils.set_random_seed(7)  # another init: only the loaded parts may equal the file
    full = FAMILY.build(dataclasses.replace(cfg, pretrained_autoencoder=path), info)
    assert reconstruction_nll(full, batches) < before - 15
    reference = FAMILY.build(cfg, info)
    load_autoencoder(reference, path)
    for got, want in zip(
        autoencoder_variables(full), autoencoder_variables(reference), strict=True
    ):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert not np.array_equal(full.time_axis.get_weights()[0], reference.time_axis.get_weights()[0])
    with pytest.raises(ConfigError, match=r"^model\.pretrained_autoencoder: .* was saved for"):
        FAMILY.build(
            EndecellConfig(
                encoder_size=16, time_layers=(16,), decoder_size=16, pretrained_autoencoder=path
            ),
            info,
        )
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="not an autoencoder file"):
        load_autoencoder(reference, str(tmp_path / "junk.npz"))


def test_the_trainers_step_runs_it_under_mixed_precision(
    jsb_dataset: tuple[EncodingInfo, list[str]],
) -> None:
    info, files = jsb_dataset
    dataset = FAMILY.dataset(
        files, info, _data(), batch_size=4, training=True, seed=0, num_shards=1, shard_index=0
    )
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        keras.utils.set_random_seed(3)
        model = FAMILY.build(_cfg(key_chunk=11), info)
        opt_cfg = OptimizerConfig(learning_rate=1e-2)
        optimizer = build_optimizer(opt_cfg, mixed_precision=True)
        optimizer.build(model.trainable_variables)  # as the training loop does
        strategy = tf.distribute.get_strategy()
        step = make_train_step(strategy, FAMILY, model, optimizer, opt_cfg, dataset.element_spec)
        stats = [step(batch) for batch in dataset.take(4)]
    finally:
        keras.mixed_precision.set_global_policy("float32")
    losses = [float(s[LOSS_SUM] / s[WEIGHT]) for s in stats]
    assert all(np.isfinite(losses))
    assert float(optimizer.iterations.numpy()) >= 1  # a non-finite first step may be skipped
