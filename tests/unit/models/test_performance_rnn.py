"""PerformanceRNN: Magenta's parameter counts, inputs, loss and metrics on real golden data."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from note_seq.protobuf import music_pb2

from musicgen.encodings.augment import magenta_pipeline
from musicgen.encodings.performance_configs import CONFIGS, NOTE_NUM_CLASSES, get_config
from musicgen.errors import ConfigError
from musicgen.examples.compact_format import serialize_example
from musicgen.examples.encoding_info import EncodingInfo, write_encoding_info
from musicgen.examples.readers import list_shards, performance_dataset
from musicgen.models.family import NLL_WEIGHT, WEIGHT
from musicgen.models.performance_rnn import PerformanceRNN, event_inputs
from musicgen.models.registry import get_family
from musicgen.storage.tfrecord import read_records, write_tfrecord_file
from musicgen.train.config import DataConfig, model_config
from tests.unit.models.helpers import cudnn_eligible, fit, lstm_layers, totals

DYNAMICS = "performance_with_dynamics"
NOTE = "performance_with_dynamics_and_note_encoding"
OPTIONAL = "optional_multiconditioned_performance_with_dynamics"
MAGENTA_PARAMS = {  # spec section 5.5, 3 x 512, one_hot inputs
    "performance": 6_160_740,
    "performance_with_dynamics": 6_242_692,
    "performance_with_dynamics_compact": 6_242_692,
    "performance_with_dynamics_and_modulo_encoding": 5_480_836,
    "performance_with_dynamics_and_note_encoding": 6_055_739,
    "density_conditioned_performance_with_dynamics": 6_259_076,
    "pitch_conditioned_performance_with_dynamics": 6_267_268,
    "multiconditioned_performance_with_dynamics": 6_283_652,
    "optional_multiconditioned_performance_with_dynamics": 6_285_700,
}
MakeDataset = Callable[[str], tuple[EncodingInfo, list[str]]]
FAMILY = get_family("performance_rnn")
TINY = (24,)
# Keras' save calls np.array(tf.Variable), which TF 2.21 + numpy 2 flag; third-party, harmless.
KERAS_SAVE_WARNING = (
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(scope="module")
def golden_sequences(golden_dir: Path) -> list[music_pb2.NoteSequence]:
    data = (golden_dir / "notesequences.tfrecord").read_bytes()
    return [music_pb2.NoteSequence.FromString(r) for r in read_records(data)]


@pytest.fixture(scope="module")
def make_dataset(
    golden_sequences: list[music_pb2.NoteSequence], tmp_path_factory: pytest.TempPathFactory
) -> MakeDataset:
    """name -> (info, shard files) of compact records of the golden sequences (eval branch)."""
    made: dict[str, tuple[EncodingInfo, list[str]]] = {}

    def make(name: str) -> tuple[EncodingInfo, list[str]]:
        if name not in made:
            root = tmp_path_factory.mktemp(name)
            config = get_config(name)
            records = [
                serialize_example(e, config, id=ns.id, split="train")
                for ns in golden_sequences
                for e in magenta_pipeline(ns, config, training=False)
            ]
            write_tfrecord_file(str(root / "train" / "examples-00000-of-00001.tfrecord"), records)
            info = EncodingInfo.for_performance(config)
            write_encoding_info(str(root), info)
            made[name] = (info, list_shards(str(root), "train"))
        return made[name]

    return make


def _batches(make_dataset: MakeDataset, name: str, batch_size: int = 4, count: int = 2) -> list:
    info, files = make_dataset(name)
    ds = FAMILY.dataset(
        files, info, DataConfig(dataset="x"), batch_size=batch_size, training=False, seed=0,
        num_shards=1, shard_index=0,
    )  # fmt: skip
    return list(ds.take(count))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_parameter_count_is_magentas(name: str) -> None:
    model = FAMILY.build(model_config(), EncodingInfo.for_performance(name))
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert trainable == MAGENTA_PARAMS[name]
    assert all(cudnn_eligible(layer) for layer in lstm_layers(model))
    assert [layer.units for layer in lstm_layers(model)] == [512, 512, 512]


@pytest.mark.parametrize(
    "name", [DYNAMICS, "performance_with_dynamics_compact",
             "performance_with_dynamics_and_modulo_encoding"],
)  # fmt: skip
def test_ids_become_the_readers_pairs(make_dataset: MakeDataset, name: str) -> None:
    info, files = make_dataset(name)
    config = get_config(name)
    ids = next(iter(performance_dataset(files, info, batch_size=4, shuffle=False, mode="ids")))
    pairs = next(iter(performance_dataset(files, info, batch_size=4, shuffle=False, mode="pairs")))
    real = ids["mask"].numpy() == 1.0
    got = event_inputs(ids["inputs"], config).numpy()
    np.testing.assert_array_equal(got[real], pairs["inputs"].numpy()[real])


@pytest.mark.parametrize(
    ("name", "input_mode"),
    [(DYNAMICS, "one_hot"), (DYNAMICS, "embedding"), (NOTE, "one_hot"), (OPTIONAL, "one_hot")],
)
def test_loss_falls_on_golden_data(make_dataset: MakeDataset, name: str, input_mode: str) -> None:
    keras.utils.set_random_seed(0)
    info, _ = make_dataset(name)
    model = FAMILY.build(model_config(layers=TINY, input_mode=input_mode, embedding_dim=16), info)
    batches = _batches(make_dataset, name)
    before = FAMILY.summarize(totals(FAMILY, model, batches))
    if name == NOTE:  # Magenta's loss is the heads' mean; the event NLL is their sum
        assert before["loss"] == pytest.approx(np.mean(np.log(NOTE_NUM_CLASSES)), abs=0.1)
        assert before["nll_per_event"] == pytest.approx(np.sum(np.log(NOTE_NUM_CLASSES)), abs=0.3)
        assert 0.0 <= before["tuple_accuracy"] <= before["accuracy_pitch"] <= 1.0
    else:
        assert before["loss"] == pytest.approx(math.log(388), abs=0.05)  # 5.96
        assert before["nll_per_event"] == before["loss"]
    assert before["perplexity"] == pytest.approx(math.exp(before["loss"]))
    fit(FAMILY, model, batches, steps=12)
    after = FAMILY.summarize(totals(FAMILY, model, batches))
    assert after["loss"] < before["loss"] - 1.0
    assert after["accuracy"] > before["accuracy"]


def test_event_metrics_are_magentas(make_dataset: MakeDataset) -> None:
    info, _ = make_dataset(DYNAMICS)
    model = FAMILY.build(model_config(layers=TINY), info)
    batches = _batches(make_dataset, DYNAMICS)
    sums = totals(FAMILY, model, batches)
    labels = np.concatenate([b["labels"].numpy()[b["mask"].numpy() == 1] for b in batches])
    assert sums[WEIGHT] == sums[NLL_WEIGHT] == len(labels)
    assert sums["no_event_weight"] == np.sum(labels == 355)
    assert sums["event_weight"] + sums["no_event_weight"] == sums[WEIGHT]
    shifts = labels[(labels >= 256) & (labels <= 355)] - 255
    assert sums["time_steps"] == shifts.sum()
    out = FAMILY.summarize(sums)
    assert out["loss_per_step"] == pytest.approx(sums["nll_sum"] / shifts.sum())
    assert sums["event_weight"] > 0
    for key in ("accuracy", "event_accuracy", "no_event_accuracy"):
        assert math.isnan(out[key]) or 0.0 <= out[key] <= 1.0


def test_embedding_needs_a_plain_config() -> None:
    with pytest.raises(ConfigError, match="embedding"):
        FAMILY.build(model_config(input_mode="embedding"), EncodingInfo.for_performance(NOTE))
    with pytest.raises(ConfigError, match="performance"):
        FAMILY.build(model_config(), EncodingInfo.for_pianoroll(1))


@pytest.mark.filterwarnings(KERAS_SAVE_WARNING)
@pytest.mark.parametrize(
    ("name", "input_mode"),
    [("performance_with_dynamics_compact", "one_hot"), (DYNAMICS, "embedding"), (NOTE, "one_hot")],
)
def test_save_and_load_give_the_same_outputs(
    make_dataset: MakeDataset, tmp_path: Path, name: str, input_mode: str
) -> None:
    info, _ = make_dataset(name)
    cfg = model_config(layers=(8, 8), dropout=0.1, input_mode=input_mode, embedding_dim=4)
    model = FAMILY.build(cfg, info)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(
        tmp_path / "model.keras", custom_objects=FAMILY.custom_objects()
    )
    assert isinstance(loaded, PerformanceRNN)
    assert loaded.get_config() == model.get_config()
    batch = {k: v[:2, :64] for k, v in _batches(make_dataset, name, count=1)[0].items()}
    want = {k: float(v) for k, v in FAMILY.batch_stats(model, batch, False).items()}
    got = {k: float(v) for k, v in FAMILY.batch_stats(loaded, batch, False).items()}
    assert got == pytest.approx(want, rel=1e-6)
    inputs = batch["inputs"]
    if inputs.dtype.is_integer and input_mode == "one_hot":
        inputs = event_inputs(inputs, get_config(name))
    np.testing.assert_array_equal(loaded(inputs).numpy(), model(inputs).numpy())


def test_mixed_precision_keeps_float32_logits() -> None:
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        model = FAMILY.build(model_config(layers=(8,)), EncodingInfo.for_performance(DYNAMICS))
        assert model.get_layer("lstm_0").compute_dtype == "float16"
        logits = model(tf.zeros([2, 5, 388]))
        assert logits.dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")
