"""The many-to-one LSTM on real JSB Chorales: in-graph windows, masking, units, save/load."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from musicgen.encodings.chords import OOV_ID, ChordVocabulary
from musicgen.errors import ConfigError
from musicgen.examples.benchmark_datasets import onsets_from_frames
from musicgen.examples.compact_format import serialize_pianoroll
from musicgen.examples.encoding_info import EncodingInfo, write_encoding_info
from musicgen.examples.polyphonic import load_polyphonic
from musicgen.examples.readers import list_shards
from musicgen.models.chord_lstm import ChordLSTMFamily
from musicgen.models.configs.chord_lstm import ChordLSTMConfig
from musicgen.models.configs.seq2one_lstm import Seq2OneLSTMConfig
from musicgen.models.family import LOSS_SUM, NLL_SUM, NLL_WEIGHT, WEIGHT
from musicgen.models.seq2one_lstm import (
    Seq2OneLSTM,
    Seq2OneLSTMFamily,
    context_windows,
    frame_classes,
    frame_rows,
)
from musicgen.storage.tfrecord import write_tfrecord_file
from musicgen.train.config import DataConfig
from tests.conftest import REPO, in_testdata
from tests.unit.models.helpers import cudnn_eligible, fit, lstm_layers, totals

FAMILY = Seq2OneLSTMFamily()
KERAS_SAVE_WARNING = (
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
Data = tuple[Path, EncodingInfo, list[str]]


@pytest.fixture(scope="module")
def jsb(tmp_path_factory: pytest.TempPathFactory) -> Data:
    """(folder, info, train shards) of 8 JSB pieces, with the chords.json of those pieces."""
    rolls = load_polyphonic(in_testdata("datasets", "polyphonic", "JSB_Chorales.pickle"))
    root = tmp_path_factory.mktemp("jsb-seq2one")
    pieces = rolls["train"][:8]
    records = [
        serialize_pianoroll((f, onsets_from_frames(f)), id=f"jsb-{i}", split="train",
                            steps_per_quarter=1)
        for i, f in enumerate(pieces)
    ]  # fmt: skip
    write_tfrecord_file(str(root / "train" / "examples-00000-of-00001.tfrecord"), records)
    info = EncodingInfo.for_pianoroll(steps_per_quarter=1)
    write_encoding_info(str(root), info)
    (root / "chords.json").write_text(ChordVocabulary.build(pieces).to_json())
    return root, info, list_shards(str(root), "train")


def _cfg(root: Path, **kwargs: object) -> Seq2OneLSTMConfig:
    values: dict = {"layers": (16, 16), "dense_size": 16, "embedding_dim": 8, "window": 4}
    values.update(kwargs)
    return Seq2OneLSTMConfig(chords=str(root / "chords.json"), **values)


def _batches(data: Data, count: int = 3, window: int | None = 12) -> list:
    root, info, files = data
    cfg = DataConfig(dataset=str(root), window=window, hop=window)
    ds = FAMILY.dataset(
        files, info, cfg, batch_size=4, training=False, seed=0, num_shards=1, shard_index=0
    )
    return list(ds.take(count))


def _reference_windows(steps: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Python loops: the context of every target t >= 1, real steps first, zeros after."""
    contexts, masks = [], []
    for row in steps:
        for t in range(1, len(row)):
            real = row[max(0, t - window) : t]
            padded = np.zeros((window, *row.shape[1:]), row.dtype)
            padded[: len(real)] = real
            contexts.append(padded)
            masks.append(np.arange(window) < len(real))
    return np.stack(contexts), np.stack(masks)


@pytest.mark.parametrize("shape", [(2, 9), (3, 7, 5), (2, 3)], ids=["ids", "rows", "short"])
def test_windows_built_in_the_graph_equal_a_python_reference(shape: tuple[int, ...]) -> None:
    steps = np.random.default_rng(0).integers(1, 50, shape).astype(np.int32)
    contexts, mask = context_windows(tf.constant(steps), window=4)
    expected, expected_mask = _reference_windows(steps, 4)
    np.testing.assert_array_equal(mask.numpy(), expected_mask)
    real = expected_mask.reshape(mask.shape + (1,) * (len(shape) - 2))
    np.testing.assert_array_equal(np.where(real, contexts.numpy(), 0), expected)  # padding: any


def test_padding_is_masked_and_only_the_last_window_counts() -> None:
    keras.utils.set_random_seed(4)
    model = Seq2OneLSTM("frame", layers=(8, 8), dense_size=8, window=4, dropout=0.0)
    rows = (np.random.default_rng(1).random((1, 3, 176)) < 0.2).astype(np.float32)
    short = model({"context": rows, "mask": np.ones((1, 3), bool)}).numpy()
    padded = np.concatenate([rows, np.ones((1, 1, 176), np.float32)], axis=1)  # junk padding
    out = model({"context": padded, "mask": np.array([[1, 1, 1, 0]], bool)}).numpy()
    np.testing.assert_allclose(out, short, atol=1e-6)
    # Through the family's windows: frame t's prediction sees frames t-4..t-1 only.
    frames = (np.random.default_rng(2).random((1, 12, 88)) < 0.1).astype(np.float32)

    def logits(f: np.ndarray) -> np.ndarray:
        contexts, mask = context_windows(frame_rows(f, onsets_from_frames(f > 0)), 4)
        return model({"context": contexts, "mask": mask}).numpy()  # row t - 1 predicts t

    base, moved = logits(frames), frames.copy()
    moved[0, 5] = 1.0 - moved[0, 5]
    after = logits(moved)
    np.testing.assert_array_equal(after[:5], base[:5])  # targets 1..5 do not see frame 5
    assert all(np.abs(after[t - 1] - base[t - 1]).max() > 0 for t in range(6, 10))
    np.testing.assert_array_equal(after[9:], base[9:])  # targets 10, 11: frame 5 left the window


def test_frame_sums_match_a_hand_computation_and_skip_padded_frames() -> None:
    keras.utils.set_random_seed(5)
    model = Seq2OneLSTM("frame", layers=(8,), dense_size=8, window=2, dropout=0.0)
    frames = np.zeros((1, 4, 88), np.float32)
    onsets = np.zeros_like(frames)
    frames[0, 0:3, 40] = 1.0  # struck at 0, held at 1, struck again at 2 (a re-strike)
    onsets[0, [0, 2], 40] = 1.0
    frames[0, 1:4, 50] = onsets[0, 1, 50] = 1.0
    mask = np.array([[1, 1, 1, 0]], np.float32)  # frame 3 is batch padding
    batch = {"frames": tf.constant(frames), "onsets": tf.constant(onsets), "mask": mask}
    stats = {k: float(v) for k, v in FAMILY.batch_stats(model, batch, training=False).items()}
    classes = frame_classes(frames, onsets).numpy()[0]
    assert (classes[1, 40], classes[2, 40], classes[1, 50], classes[2, 50]) == (2, 1, 1, 2)
    rows = frame_rows(frames, onsets).numpy()[0]
    articulated = marginal = 0.0
    for t in (1, 2):  # targets of real frames; frame 3 is padding, frame 0 has no context
        context = rows[max(0, t - 2) : t][None]
        logits = model({"context": context, "mask": np.ones(context.shape[:2], bool)}).numpy()
        log_p = logits[0] - np.log(np.exp(logits[0]).sum(-1, keepdims=True))
        articulated -= log_p[np.arange(88), classes[t]].sum()
        p_on = np.exp(log_p[:, 1]) + np.exp(log_p[:, 2])
        marginal -= np.where(classes[t] > 0, np.log(p_on), np.log1p(-p_on)).sum()
    assert stats[WEIGHT] == stats[NLL_WEIGHT] == 2.0
    assert stats[LOSS_SUM] == stats["articulated_nll_sum"] == pytest.approx(articulated, 1e-5)
    assert stats[NLL_SUM] == pytest.approx(marginal, rel=1e-5)
    assert stats["tp"] + stats["fn"] == 4.0  # keys 40 and 50 sound in frames 1 and 2


def test_chord_target_scores_chord_lstms_frames_and_training_lowers_the_nll(jsb: Data) -> None:
    keras.utils.set_random_seed(1)
    root, info, _ = jsb
    model = FAMILY.build(_cfg(root), info)
    assert isinstance(model, Seq2OneLSTM)
    assert all(cudnn_eligible(layer) for layer in lstm_layers(model))
    whole = _batches(jsb, count=2, window=None)  # whole pieces: padded frames in the batch
    chord = ChordLSTMFamily()
    reference = chord.build(ChordLSTMConfig(chords=str(root / "chords.json"), layers=(8,)), info)
    sums = totals(FAMILY, model, whole)
    real = sum(float(b["mask"][:, 1:].numpy().sum()) for b in whole)
    assert sums[NLL_WEIGHT] == sums[WEIGHT] == real == totals(chord, reference, whole)[WEIGHT]
    before = FAMILY.summarize(sums)
    assert model.num_classes == reference.num_classes
    assert before["chord_nll_per_frame"] == pytest.approx(math.log(model.num_classes), abs=0.1)
    assert "nll_per_frame" not in before
    assert before["oov_rate"] == 0.0
    batches = _batches(jsb)
    start = FAMILY.summarize(totals(FAMILY, model, batches))
    losses = fit(FAMILY, model, batches, steps=30)
    assert all(np.isfinite(losses))
    after = FAMILY.summarize(totals(FAMILY, model, batches))
    assert after["chord_nll_per_frame"] < start["chord_nll_per_frame"] - 0.5
    assert after["perplexity"] == pytest.approx(math.exp(after["chord_nll_per_frame"]))


def test_max_chords_folds_the_rest_into_oov(jsb: Data) -> None:
    root, info, _ = jsb
    model = FAMILY.build(_cfg(root, max_chords=10), info)
    assert model.num_classes == 10
    summary = FAMILY.summarize(totals(FAMILY, model, _batches(jsb, count=1)))
    assert 0.0 < summary["oov_rate"] < 1.0


def test_frame_target_units_and_training(jsb: Data) -> None:
    keras.utils.set_random_seed(2)
    root, info, _ = jsb
    model = FAMILY.build(_cfg(root, target="frame"), info)
    assert model.get_layer("keys").output.shape == (None, 88, 3)
    batches = _batches(jsb)
    before = FAMILY.summarize(totals(FAMILY, model, batches))
    assert before["articulated_nll_per_frame"] == pytest.approx(88 * math.log(3), abs=3.0)
    assert before["loss"] == before["articulated_nll_per_frame"]
    assert before["nll_per_frame"] < before["articulated_nll_per_frame"]  # on/off: fewer events
    fit(FAMILY, model, batches, steps=30)
    after = FAMILY.summarize(totals(FAMILY, model, batches))
    assert after["articulated_nll_per_frame"] < before["articulated_nll_per_frame"] - 40
    assert after["nll_per_frame"] < 30.0
    assert 0.0 <= after["frame_accuracy"] <= 1.0


def test_config_and_build_errors(tmp_path: Path) -> None:
    info = EncodingInfo.for_pianoroll(1)
    with pytest.raises(ConfigError, match=r"model\.target"):
        Seq2OneLSTMConfig(target="bar")
    with pytest.raises(ConfigError, match=r"model\.window"):
        Seq2OneLSTMConfig(window=0)
    with pytest.raises(ConfigError, match=r"model\.max_chords"):
        Seq2OneLSTMConfig(max_chords=2)
    assert Seq2OneLSTMConfig().dropout == 0.3
    with pytest.raises(ConfigError, match=r"model\.chords is not set"):
        FAMILY.build(Seq2OneLSTMConfig(), info)
    with pytest.raises(ConfigError, match=str(tmp_path / "chords.json")):
        FAMILY.build(_cfg(tmp_path), info)
    with pytest.raises(ConfigError, match="piano-roll"):
        FAMILY.build(_cfg(tmp_path), EncodingInfo.for_performance("performance"))


@pytest.mark.parametrize("name", ["seq2one_lstm_smoke.yaml", "seq2one_lstm_jsb.yaml"])
def test_presets_are_valid_model_configs(name: str) -> None:
    model = yaml.safe_load((REPO / "configs" / name).read_text())["model"]
    cfg = Seq2OneLSTMConfig(**{k: tuple(v) if isinstance(v, list) else v
                               for k, v in model.items()})  # fmt: skip
    assert cfg.family == "seq2one_lstm"


@pytest.mark.filterwarnings(KERAS_SAVE_WARNING)
@pytest.mark.parametrize("target", ["chord", "frame"])
def test_save_and_load_give_the_same_outputs(jsb: Data, tmp_path: Path, target: str) -> None:
    root, info, _ = jsb
    model = FAMILY.build(_cfg(root, target=target, max_chords=50, threshold=0.4), info)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(
        tmp_path / "model.keras", custom_objects=FAMILY.custom_objects()
    )
    assert isinstance(loaded, Seq2OneLSTM)
    assert loaded.get_config() == model.get_config()
    batch = _batches(jsb, count=1)[0]
    if target == "chord":
        assert loaded.vocabulary == model.vocabulary
        ids = tf.cast(batch["chords"], tf.int32)
        steps = tf.where(ids < 50, ids, OOV_ID)
    else:
        steps = frame_rows(batch["frames"], batch["onsets"])
    contexts, mask = context_windows(steps, model.window)
    inputs = {"context": contexts, "mask": mask}
    np.testing.assert_array_equal(loaded(inputs).numpy(), model(inputs).numpy())
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("target", ["chord", "frame"])
def test_mixed_precision_keeps_float32_logits(jsb: Data, target: str) -> None:
    root, info, _ = jsb
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        model = FAMILY.build(_cfg(root, target=target), info)
        assert model.get_layer("lstm_0").compute_dtype == "float16"
        shape = [2, 4] if target == "chord" else [2, 4, 176]
        dtype = tf.int32 if target == "chord" else tf.float32
        out = model({"context": tf.zeros(shape, dtype), "mask": tf.ones([2, 4], tf.bool)})
        assert out.dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")
