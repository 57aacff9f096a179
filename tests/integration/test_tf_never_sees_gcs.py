"""TensorFlow and Keras file APIs never receive a gs:// URI: every byte goes through storage.

TensorFlow's own GCS file system is a second client with compiled-in endpoints: it cannot reach
the emulator, and on GKE it would bypass our credentials, retries and errors. Two checks:

* a static scan: the TF/Keras file-API call sites in ``musicgen/`` are exactly the reviewed
  ones below (a new one fails here until it is added, with the reason it only sees local paths);
* a guard that makes those APIs raise on a ``gs://`` argument, while the code behind each
  reviewed call site runs against the GCS emulator: readers, TensorBoard, checkpoints (save,
  prune, restore) and loading a run for generation.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from musicgen import storage
from musicgen.encodings import pianoroll
from musicgen.encodings.augment import magenta_pipeline
from musicgen.encodings.performance_configs import get_config
from musicgen.examples.compact_format import serialize_example, serialize_pianoroll
from musicgen.examples.encoding_info import EncodingInfo, write_encoding_info
from musicgen.examples.readers import list_shards, performance_dataset, pianoroll_dataset
from musicgen.storage import layout, tfrecord

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DYNAMICS = "performance_with_dynamics"
# Every TF/Keras call that can open a path, and where musicgen makes one (file, API): each
# is handed a local temporary path, which the guarded tests below exercise with gs:// runs.
FILE_API = re.compile(
    r"TFRecordDataset|TextLineDataset|FixedLengthRecordDataset|gfile|tf\.io\.(read|write)_file"
    r"|create_file_writer|load_model\(|\.save\(|save_weights|load_weights|saved_model"
    r"|tf\.train\.Checkpoint|TFRecordWriter|tf_record_iterator|export_archive|load_checkpoint"
)
REVIEWED = {
    ("musicgen/train/metrics.py", "create_file_writer"),  # TensorBoard's local folder
    ("musicgen/train/loop.py", ".save("),  # model.keras into a temp dir, then uploaded
    ("musicgen/train/checkpoints.py", ".save("),  # the checkpoint's local copy
    ("musicgen/train/checkpoints.py", "load_model("),  # downloaded first
    ("musicgen/generate/loaded_run.py", "load_model("),  # downloaded first
    ("musicgen/train/init_from.py", "load_model("),  # the source run's model, downloaded first
    ("musicgen/interop/magenta_import.py", ".save("),  # model.keras into a temp dir, uploaded
    ("musicgen/interop/magenta_export.py", ".save("),  # the TF1 Saver, into a temp dir
    ("musicgen/interop/magenta_checkpoint.py", "load_checkpoint"),  # bytes written to a temp dir
}


def test_tf_file_api_call_sites_are_the_reviewed_ones() -> None:
    found = set()
    for path in sorted((REPO / "musicgen").rglob("*.py")):
        for line in path.read_text(encoding="utf-8").splitlines():
            code = line.split("#", 1)[0]
            if '"""' in line or code.strip().startswith(("``", "-", "*")):
                continue
            for match in FILE_API.finditer(code):
                found.add((path.relative_to(REPO).as_posix(), match.group(0)))
    assert found == REVIEWED


def _gcs_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    import tensorflow as tf

    out = []
    for value in (*args, *kwargs.values()):
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if tf.is_tensor(item) and item.dtype == tf.string and tf.executing_eagerly():
                item = [v.decode() for v in np.ravel(item.numpy())]
            texts = item if isinstance(item, list) else [item]
            for text in texts:
                if isinstance(text, bytes):
                    text = text.decode(errors="replace")
                if isinstance(text, str | os.PathLike) and os.fspath(text).startswith("gs://"):
                    out.append(os.fspath(text))
    return out


@pytest.fixture
def tf_refuses_gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Makes every TF/Keras file API raise on a gs:// argument; yields the refused URIs."""
    import keras
    import tensorflow as tf

    refused: list[str] = []

    def guard(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(real)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            uris = _gcs_arguments(args, kwargs)
            if uris:
                refused.extend(uris)
                raise AssertionError(f"{name} was handed {uris}")
            return real(*args, **kwargs)

        return wrapper

    targets: list[tuple[Any, str]] = [
        (tf.data, "TFRecordDataset"), (tf.data, "TextLineDataset"),
        (tf.data, "FixedLengthRecordDataset"), (tf.io.gfile, "GFile"),
        (tf.io.gfile, "exists"), (tf.io.gfile, "glob"), (tf.io.gfile, "listdir"),
        (tf.io.gfile, "makedirs"), (tf.io.gfile, "remove"), (tf.io.gfile, "copy"),
        (tf.io, "read_file"), (tf.io, "write_file"), (tf.summary, "create_file_writer"),
        (keras.saving, "load_model"), (keras.Model, "save"), (keras.Model, "save_weights"),
        (keras.Model, "load_weights"),
    ]  # fmt: skip
    for owner, name in targets:
        monkeypatch.setattr(owner, name, guard(name, getattr(owner, name)))
    yield refused
    assert refused == []


def _upload_tree(local: Path, uri: str) -> None:
    for path in sorted(local.rglob("*")):
        if path.is_file():
            storage.upload_file(str(path), storage.join(uri, path.relative_to(local).as_posix()))


@pytest.fixture(scope="module")
def golden_sequences(golden_dir: Path) -> list[music_pb2.NoteSequence]:
    data = (golden_dir / "notesequences.tfrecord").read_bytes()
    return [music_pb2.NoteSequence.FromString(r) for r in tfrecord.read_records(data)]


def _performance_dataset(root: Path, sequences: list[music_pb2.NoteSequence]) -> Path:
    config = get_config(DYNAMICS)
    records = [
        serialize_example(e, config, id=ns.id, split="train")
        for ns in sequences
        for e in magenta_pipeline(ns, config, training=False)
    ]
    write_encoding_info(str(root), EncodingInfo.for_performance(DYNAMICS, "compact", 0.1))
    for i, part in enumerate(np.array_split(np.arange(len(records)), 3)):
        uri = str(root / layout.example_shard_name("train", i, 3))
        tfrecord.write_tfrecord_file(uri, [records[j] for j in part])
    return root


def _batches(ds: Any) -> list[dict[str, np.ndarray]]:
    return list(ds.as_numpy_iterator())


def test_readers_take_gcs_shards_through_storage(
    tmp_path: Path,
    gcs_bucket: str,
    golden_sequences: list[music_pb2.NoteSequence],
    tf_refuses_gcs: list[str],
) -> None:
    local = _performance_dataset(tmp_path / "perf", golden_sequences)
    remote = storage.join(gcs_bucket, "datasets", "perf")
    _upload_tree(local, remote)
    info = EncodingInfo.for_performance(DYNAMICS, "compact", 0.1)
    files = list_shards(remote, "train")
    assert all(f.startswith("gs://") for f in files)
    assert len(files) == 3
    for kwargs in ({"shuffle": False}, {"shuffle": True, "seed": 3}):
        got = _batches(performance_dataset(files, info, batch_size=4, **kwargs))
        want = _batches(
            performance_dataset(list_shards(str(local), "train"), info, batch_size=4, **kwargs)
        )
        assert len(got) == len(want) > 1
        for a, b in zip(got, want, strict=True):
            for key in a:
                np.testing.assert_array_equal(a[key], b[key])

    rolls = [pianoroll.encode(ns, pianoroll.PianorollEncodingConfig(2)) for ns in golden_sequences]
    roll_records = [serialize_pianoroll(r, id=f"p{i}", split="train") for i, r in enumerate(rolls)]
    roll_uri = storage.join(gcs_bucket, "datasets", "rolls", "train", "examples-00000-of-00001")
    tfrecord.write_tfrecord_file(roll_uri + ".tfrecord", roll_records)
    ds = pianoroll_dataset(
        [roll_uri + ".tfrecord"], EncodingInfo.for_pianoroll(2), batch_size=2, shuffle=False
    )
    frames = sum(int(b["mask"].sum()) for b in _batches(ds))
    assert frames == sum(r.num_steps for r in rolls if r.num_steps > 0)


def test_tensorboard_on_gcs_uploads_each_event_file_once(
    gcs_bucket: str, tf_refuses_gcs: list[str]
) -> None:
    from musicgen.train.metrics import TensorBoard

    uri = storage.join(gcs_bucket, "runs", "r", "tensorboard")
    board = TensorBoard(uri)
    for step in range(1, 7):
        board.scalars("train", step, {"loss": 1.0 / step})
        if step % 2 == 0:
            board.scalars("eval", step, {"loss": 2.0 / step})
            board.flush()
    board.flush()  # nothing new: nothing uploaded
    board.close()
    objects = sorted(f.uri for f in storage.list_files(uri))
    assert len(objects) == 6  # 3 flushes x 2 splits, each a finished file
    assert sorted(board.uploaded) == objects  # each uploaded once

    import tensorflow as tf

    steps = []  # every scalar arrives once, in order, across the rolled files
    for obj in objects:
        if "/train/" in obj:
            for record in tfrecord.read_records(storage.read_bytes(obj)):
                event = tf.compat.v1.Event.FromString(record)
                steps += [event.step for _ in event.summary.value]
    assert steps == [1, 2, 3, 4, 5, 6]


def _tiny_model() -> tuple[Any, Any]:
    import keras

    inputs = keras.Input((None, 3))
    model = keras.Model(
        inputs, keras.layers.Dense(2)(keras.layers.LSTM(4, return_sequences=True)(inputs))
    )
    adam = keras.optimizers.Adam(1e-2)
    adam.build(model.trainable_variables)
    model.compile(optimizer=adam)
    return model, adam


def test_checkpoints_save_prune_and_restore_on_gcs(
    tmp_path: Path, gcs_bucket: str, tf_refuses_gcs: list[str]
) -> None:
    from musicgen.train import checkpoints as ckpts

    model, _ = _tiny_model()
    folder = storage.join(gcs_bucket, "runs", "r", layout.CHECKPOINTS)
    for step in (10, 20, 30):
        local = tmp_path / str(step)
        local.mkdir()
        ckpts.save_checkpoint(model, folder, step, {"metrics": {}}, str(local))
    assert ckpts.prune_checkpoints(folder, keep=2) == [10]
    names = sorted(storage.basename(f.uri) for f in storage.list_files(folder))
    assert names == [f"ckpt-000000{s}.{x}" for s in (20, 30) for x in ("json", "keras")]
    latest = ckpts.latest_checkpoint(folder)
    assert latest is not None
    assert latest.step == 30
    fresh, adam = _tiny_model()
    ckpts.restore_checkpoint(latest, fresh, adam, {})
    for a, b in zip(model.weights, fresh.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_gcs_run_generates_without_its_dataset(
    tmp_path: Path, gcs_bucket: str, tf_refuses_gcs: list[str]
) -> None:
    from musicgen.generate.loaded_run import load_run
    from musicgen.models.registry import get_family
    from musicgen.train.config import DataConfig, TrainConfig, model_config
    from musicgen.train.driver import copy_dataset_files
    from musicgen.train.run_dir import run_dir_of, write_config

    dataset = storage.join(gcs_bucket, "datasets", "gone")
    info = EncodingInfo.for_performance(DYNAMICS, "compact", 0.1)
    write_encoding_info(dataset, info)
    cfg = TrainConfig(
        model=model_config(layers=(8,), input_mode="embedding", embedding_dim=4),
        data=DataConfig(dataset=dataset),
        runs_dir=storage.join(gcs_bucket, "runs"),
        run_id="alone",
    )
    run = run_dir_of(cfg)
    write_config(run, cfg)
    assert copy_dataset_files(dataset, run) == [run.encoding]
    model = get_family("performance_rnn").build(cfg.model, info)
    model.save(tmp_path / "model.keras")
    storage.upload_file(str(tmp_path / "model.keras"), run.model)
    storage.delete(storage.join(dataset, layout.ENCODING))  # the dataset is gone

    loaded = load_run(run.uri)
    assert loaded.info == info
    assert loaded.model.count_params() == model.count_params()
