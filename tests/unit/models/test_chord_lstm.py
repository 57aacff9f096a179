"""The chord-vocabulary LSTM on real JSB Chorales: vocabulary, units, capping, save/load."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from musicgen.encodings.chords import OOV_ID, ChordVocabulary
from musicgen.errors import ConfigError
from musicgen.examples.benchmark_datasets import onsets_from_frames
from musicgen.examples.compact_format import serialize_pianoroll
from musicgen.examples.encoding_info import EncodingInfo, write_encoding_info
from musicgen.examples.polyphonic import load_polyphonic
from musicgen.examples.readers import list_shards
from musicgen.models.chord_lstm import ChordLSTM, read_vocabulary
from musicgen.models.family import NLL_WEIGHT, WEIGHT
from musicgen.models.registry import get_family
from musicgen.storage.tfrecord import write_tfrecord_file
from musicgen.train.config import DataConfig, ModelConfig, TrainConfig, model_config
from tests.conftest import in_testdata
from tests.unit.models.helpers import cudnn_eligible, fit, lstm_layers, totals

FAMILY = get_family("chord_lstm")
KERAS_SAVE_WARNING = (
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
WINDOW = 16


@pytest.fixture(scope="module")
def chord_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, EncodingInfo, list[str]]:
    """(folder, info, train shards) of 8 JSB pieces, with the chords.json of those pieces."""
    rolls = load_polyphonic(in_testdata("datasets", "polyphonic", "JSB_Chorales.pickle"))
    root = tmp_path_factory.mktemp("jsb-chords")
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


def _cfg(root: Path, **kwargs: object) -> ModelConfig:
    model = model_config(family="chord_lstm", layers=(32,), embedding_dim=16, **kwargs)  # type: ignore[arg-type]
    return TrainConfig(model=model, data=DataConfig(dataset=str(root))).model


def _batches(data: tuple[Path, EncodingInfo, list[str]], count: int = 3) -> list:
    root, info, files = data
    cfg = DataConfig(dataset=str(root), window=WINDOW, hop=WINDOW)
    ds = FAMILY.dataset(
        files, info, cfg, batch_size=8, training=False, seed=0, num_shards=1, shard_index=0
    )
    return list(ds.take(count))


def test_train_config_points_the_model_at_the_datasets_vocabulary(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    assert cfg.chords == str(tmp_path / "chords.json")
    other = TrainConfig(model=model_config(family="pianoroll_lstm"), data=DataConfig(dataset="x"))
    assert not hasattr(other.model, "chords")  # other families have no vocabulary
    with pytest.raises(ConfigError, match="max_chords"):
        model_config(family="chord_lstm", max_chords=2)


def test_init_nll_is_uniform_and_training_lowers_it(
    chord_data: tuple[Path, EncodingInfo, list[str]],
) -> None:
    keras.utils.set_random_seed(1)
    root, info, _ = chord_data
    model = FAMILY.build(_cfg(root), info)
    assert isinstance(model, ChordLSTM)
    assert model.num_classes == read_vocabulary(str(root / "chords.json")).size
    assert all(cudnn_eligible(layer) for layer in lstm_layers(model))
    batches = _batches(chord_data)
    sums = totals(FAMILY, model, batches)
    real = sum(float(b["mask"][:, 1:].numpy().sum()) for b in batches)
    assert sums[NLL_WEIGHT] == sums[WEIGHT] == real  # every real frame but a window's first
    before = FAMILY.summarize(sums)
    assert before["chord_nll_per_frame"] == pytest.approx(math.log(model.num_classes), abs=0.1)
    assert "nll_per_frame" not in before  # not the papers' 88-key unit
    assert before["oov_rate"] == 0.0  # the vocabulary of these very pieces
    fit(FAMILY, model, batches, steps=40)
    after = FAMILY.summarize(totals(FAMILY, model, batches))
    assert after["chord_nll_per_frame"] < before["chord_nll_per_frame"] - 0.5
    assert after["perplexity"] == pytest.approx(math.exp(after["chord_nll_per_frame"]))
    assert 0.0 <= before["accuracy"] < after["accuracy"] <= 1.0


def test_max_chords_keeps_the_most_frequent_and_folds_the_rest_into_oov(
    chord_data: tuple[Path, EncodingInfo, list[str]],
) -> None:
    root, info, _ = chord_data
    full = read_vocabulary(str(root / "chords.json"))
    capped = read_vocabulary(str(root / "chords.json"), max_chords=10)
    assert capped.size == 10
    assert capped.chords == full.chords[:8]
    model = FAMILY.build(_cfg(root, max_chords=10), info)
    assert model.num_classes == 10
    summary = FAMILY.summarize(totals(FAMILY, model, _batches(chord_data)))
    assert 0.0 < summary["oov_rate"] < 1.0


def test_missing_vocabulary_and_wrong_examples(tmp_path: Path) -> None:
    info = EncodingInfo.for_pianoroll(1)
    with pytest.raises(ConfigError, match=str(tmp_path / "chords.json")):
        FAMILY.build(_cfg(tmp_path), info)
    (tmp_path / "chords.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a chord vocabulary"):
        FAMILY.build(_cfg(tmp_path), info)
    with pytest.raises(ConfigError, match="piano-roll"):
        FAMILY.build(_cfg(tmp_path), EncodingInfo.for_performance("performance"))


@pytest.mark.filterwarnings(KERAS_SAVE_WARNING)
def test_save_and_load_give_the_same_outputs_and_vocabulary(
    chord_data: tuple[Path, EncodingInfo, list[str]], tmp_path: Path
) -> None:
    root, info, _ = chord_data
    model = FAMILY.build(_cfg(root, dropout=0.2, max_chords=50), info)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(
        tmp_path / "model.keras", custom_objects=FAMILY.custom_objects()
    )
    assert isinstance(loaded, ChordLSTM)
    assert loaded.get_config() == model.get_config()
    assert loaded.vocabulary == model.vocabulary
    ids = tf.cast(_batches(chord_data, count=1)[0]["chords"], tf.int32)
    ids = tf.where(ids < 50, ids, OOV_ID)
    np.testing.assert_array_equal(loaded(ids).numpy(), model(ids).numpy())


def test_mixed_precision_keeps_float32_logits(
    chord_data: tuple[Path, EncodingInfo, list[str]],
) -> None:
    root, info, _ = chord_data
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        model = FAMILY.build(_cfg(root), info)
        assert model.get_layer("lstm_0").compute_dtype == "float16"
        assert model(tf.zeros([2, 5], tf.int32)).dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")
