"""The seq2seq LSTM on real JSB Chorales: chunking, causality, NLL units, options, save/load."""

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
from musicgen.models.registry import get_family
from musicgen.models.seq2seq_lstm import Seq2SeqLSTM, chunk_pairs
from musicgen.train.config import DataConfig, ModelConfig, model_config
from tests.unit.models.helpers import cudnn_eligible, fit, lstm_layers, totals

FAMILY = get_family("seq2seq_lstm")
PIANOROLL = get_family("pianoroll_lstm")
KERAS_SAVE_WARNING = (
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
RANDOM_NLL = 88 * math.log(2)
WINDOW = 16


def _cfg(**kwargs: object) -> ModelConfig:
    return model_config(family="seq2seq_lstm", layers=(32, 32), seq2seq_window=8, **kwargs)  # type: ignore[arg-type]


def _batches(
    jsb: tuple[EncodingInfo, list[str]], count: int = 3, window: int | None = WINDOW
) -> list:
    info, files = jsb
    data = DataConfig(dataset="x", window=window, hop=window)
    ds = FAMILY.dataset(
        files, info, data, batch_size=8, training=False, seed=0, num_shards=1, shard_index=0
    )
    return list(ds.take(count))


def test_chunk_pairs_put_a_silent_chunk_first_and_shift_the_decoder_by_one() -> None:
    frames = tf.constant(np.arange(1, 8, dtype=np.float32).reshape(1, 7, 1))
    out = chunk_pairs(frames, 10 * frames, tf.ones([1, 7]), window=3)
    assert out["source"].shape == (3, 3, 2)
    np.testing.assert_array_equal(out["source"][..., 0], [[0, 0, 0], [1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(out["source"][..., 1], 10 * out["source"][..., 0])
    np.testing.assert_array_equal(out["decoder_inputs"][..., 0], [[0, 1, 2], [3, 4, 5], [6, 7, 0]])
    np.testing.assert_array_equal(out["targets"][..., 0], [[1, 2, 3], [4, 5, 6], [7, 0, 0]])
    np.testing.assert_array_equal(out["mask"], [[0, 1, 1], [1, 1, 1], [1, 0, 0]])


def test_predictions_see_only_earlier_frames() -> None:
    keras.utils.set_random_seed(3)
    model = FAMILY.build(_cfg(), EncodingInfo.for_pianoroll(1))
    rng = np.random.default_rng(0)
    frames = (rng.random((1, 20, 88)) < 0.1).astype(np.float32)

    def logits(f: np.ndarray) -> np.ndarray:
        pairs = chunk_pairs(tf.constant(f), tf.constant(f), tf.ones([1, 20]), model.window)
        out = model({"source": pairs["source"], "decoder_inputs": pairs["decoder_inputs"]})
        return out.numpy().reshape(-1, 88)[:20]  # row t predicts frame t

    base = logits(frames)
    for t in (5, 8, 13):  # inside a chunk, a chunk's first frame, another chunk
        moved = frames.copy()
        moved[0, t] = 1.0 - moved[0, t]
        after = logits(moved)
        np.testing.assert_array_equal(after[: t + 1], base[: t + 1])
        assert np.abs(after[t + 1 :] - base[t + 1 :]).max() > 0


def test_init_nll_is_random_scores_pianoroll_frames_and_training_lowers_it(
    jsb_dataset: tuple[EncodingInfo, list[str]],
) -> None:
    keras.utils.set_random_seed(1)
    model = FAMILY.build(_cfg(), jsb_dataset[0])
    assert isinstance(model, Seq2SeqLSTM)
    assert all(cudnn_eligible(layer) for layer in lstm_layers(model))
    batches = _batches(jsb_dataset)
    sums = totals(FAMILY, model, batches)
    real = sum(float(b["mask"][:, 1:].numpy().sum()) for b in batches)
    assert sums[NLL_WEIGHT] == sums[WEIGHT] == real  # every real frame but a window's first
    whole = _batches(jsb_dataset, count=1, window=None)  # whole pieces: the same frames too
    roll = PIANOROLL.build(model_config(family="pianoroll_lstm", layers=(8,)), jsb_dataset[0])
    assert totals(FAMILY, model, whole)[NLL_WEIGHT] == totals(PIANOROLL, roll, whole)[NLL_WEIGHT]
    before = FAMILY.summarize(sums)
    assert before["nll_per_frame"] == pytest.approx(RANDOM_NLL, abs=2.0)
    assert before["loss"] == before["nll_per_frame"]  # bce, teacher forced
    fit(FAMILY, model, batches, steps=25)
    after = FAMILY.summarize(totals(FAMILY, model, batches))
    assert after["nll_per_frame"] < 20.0
    assert 0.0 <= after["frame_accuracy"] <= 1.0


def test_focal_loss_and_scheduled_sampling_train_and_leave_the_nll_unweighted(
    jsb_dataset: tuple[EncodingInfo, list[str]],
) -> None:
    keras.utils.set_random_seed(2)
    info = jsb_dataset[0]
    model = FAMILY.build(_cfg(loss="focal", focal_alpha=0.6, focal_gamma=1.0,
                              teacher_forcing=0.7, threshold=0.3), info)  # fmt: skip
    assert (model.focal_alpha, model.focal_gamma, model.threshold) == (0.6, 1.0, 0.3)
    plain = FAMILY.build(_cfg(), info)
    plain.set_weights(model.get_weights())
    batches = _batches(jsb_dataset)
    fancy, base = totals(FAMILY, model, batches), totals(FAMILY, plain, batches)
    assert fancy[NLL_SUM] == pytest.approx(base[NLL_SUM], rel=1e-6)
    assert fancy[LOSS_SUM] < base[LOSS_SUM]
    before = FAMILY.summarize(fancy)["nll_per_frame"]
    losses = fit(FAMILY, model, batches, steps=25)
    assert all(np.isfinite(losses))
    assert FAMILY.summarize(totals(FAMILY, model, batches))["nll_per_frame"] < before - 20


def test_refuses_performance_examples_and_bad_windows() -> None:
    with pytest.raises(ConfigError, match="piano-roll"):
        FAMILY.build(_cfg(), EncodingInfo.for_performance("performance"))
    with pytest.raises(ConfigError, match="seq2seq_window"):
        model_config(family="seq2seq_lstm", seq2seq_window=0)


@pytest.mark.filterwarnings(KERAS_SAVE_WARNING)
def test_save_and_load_give_the_same_outputs(
    jsb_dataset: tuple[EncodingInfo, list[str]], tmp_path: Path
) -> None:
    model = FAMILY.build(_cfg(dropout=0.2, loss="focal", teacher_forcing=0.9, threshold=0.4),
                         jsb_dataset[0])  # fmt: skip
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(
        tmp_path / "model.keras", custom_objects=FAMILY.custom_objects()
    )
    assert isinstance(loaded, Seq2SeqLSTM)
    assert loaded.get_config() == model.get_config()
    batch = _batches(jsb_dataset, count=1)[0]
    pairs = chunk_pairs(batch["frames"], batch["onsets"], batch["mask"], model.window)
    inputs = {"source": pairs["source"], "decoder_inputs": pairs["decoder_inputs"]}
    np.testing.assert_array_equal(loaded(inputs).numpy(), model(inputs).numpy())


def test_mixed_precision_keeps_float32_logits() -> None:
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        model = FAMILY.build(_cfg(), EncodingInfo.for_pianoroll(1))
        assert model.get_layer("decoder_lstm_0").compute_dtype == "float16"
        x = tf.zeros([2, 8, 176])
        assert model({"source": x, "decoder_inputs": x}).dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")
