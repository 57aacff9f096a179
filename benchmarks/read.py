"""Reading example shards through musicgen.storage: records/s from local disk and from the GCS
emulator, beside TensorFlow's own TFRecord reader and beside what a training step consumes.

    .venv/bin/python benchmarks/read.py [--songs 40] [--repeats 3] [--out results/read.json]

POP909 songs become compact ``performance_with_dynamics`` examples (full augmentation), which are
uploaded to a real ``gcp-storage-emulator`` process on loopback. Measured, medians of
``--repeats`` full passes (each pass opens every shard anew, so downloads are included):

* ``tf_tfrecord_dataset_local``: ``tf.data.TFRecordDataset`` over the local files (TensorFlow's
  C++ reader; the path the readers used before, which cannot read the emulator at all);
* ``stream_local`` / ``stream_emulator``: :func:`record_stream.stream_records` (download,
  CRC-checked framing) with the readers' defaults (8 files interleaved, 2 staged ahead);
* ``batches_local`` / ``batches_emulator``: the whole training input, ``performance_dataset``
  (parse, pad, batch 64, shuffled), in records/s (the first pass, which traces, is not timed).

Beside them, what training consumes: records/s = global batch x steps/s of the real training
step (our distributed step function, one worker, tracing excluded) for the small and Magenta's
3 x 512 models on this CPU, and the float32 matmul GFLOP/s of this machine in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.magenta_side import matmul_gflops  # noqa: E402 - after the path
from benchmarks.train import make_examples, require_pop909  # noqa: E402 - after the path

BATCH = 64
MODELS: dict[str, dict[str, Any]] = {
    "small_2x128_embedding": {"layers": (128, 128), "input_mode": "embedding", "embedding_dim": 64},
    "magenta_3x512_one_hot": {"layers": (512, 512, 512), "input_mode": "one_hot"},
}


def timed(fn: Callable[[], int], repeats: int) -> dict[str, float]:
    """Median records/s of ``fn`` (which returns the records it read) over ``repeats`` runs."""
    rates, count = [], 0
    for _ in range(repeats):
        began = time.perf_counter()
        count = fn()
        rates.append(count / (time.perf_counter() - began))
    return {"records": count, "records_per_s": round(statistics.median(rates), 1)}


def training_need(dataset: Path, steps: int) -> dict[str, Any]:
    """Records/s one training worker consumes: batch x the real step's steps/s."""
    import keras
    import tensorflow as tf

    from musicgen.examples.encoding_info import read_encoding_info
    from musicgen.examples.readers import list_shards
    from musicgen.models.registry import get_family
    from musicgen.train.config import DataConfig, OptimizerConfig, model_config
    from musicgen.train.step import build_optimizer, make_train_step

    info = read_encoding_info(str(dataset))
    files = list_shards(str(dataset), "train")
    family = get_family("performance_rnn")
    strategy = tf.distribute.get_strategy()
    out: dict[str, Any] = {}
    for name, spec in MODELS.items():
        model = family.build(model_config(family="performance_rnn", **spec), info)
        optimizer = build_optimizer(OptimizerConfig(), mixed_precision=False)
        optimizer.build(model.trainable_variables)
        data = family.dataset(
            files, info, DataConfig(dataset=str(dataset)), batch_size=BATCH, training=True,
            seed=0, num_shards=1, shard_index=0,
        )  # fmt: skip
        batches = [next(iter(data)) for _ in range(1)]
        step = make_train_step(
            strategy, family, model, optimizer, OptimizerConfig(), data.element_spec
        )
        step(batches[0])  # traced: not timed
        times = []
        for _ in range(steps):
            began = time.perf_counter()
            {k: float(v) for k, v in step(batches[0]).items()}
            times.append(time.perf_counter() - began)
        steps_per_s = 1 / statistics.median(times)
        out[name] = {
            "steps_per_s": round(steps_per_s, 3),
            "records_per_s_needed": round(BATCH * steps_per_s, 1),
        }
        keras.backend.clear_session()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--songs", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/read.json")
    args = parser.parse_args()
    require_pop909()

    import tensorflow as tf

    from musicgen import storage
    from musicgen.examples.encoding_info import read_encoding_info
    from musicgen.examples.readers import list_shards, performance_dataset
    from musicgen.examples.record_stream import ShardPlan, stream_records
    from tests.fixtures.gcs_emulator import running_emulator

    results: dict[str, Any] = {"songs": args.songs, "encoding": "performance_with_dynamics"}
    with tempfile.TemporaryDirectory() as tmp, running_emulator(Path(tmp) / "emu.log") as emu:
        dataset = make_examples(args.songs, Path(tmp))
        local = list_shards(str(dataset), "train")
        info = read_encoding_info(str(dataset))
        bucket = emu.create_bucket("bench")
        remote = []
        for path in local:
            uri = storage.join(bucket, "ex", "train", storage.basename(path))
            storage.upload_file(path, uri)
            remote.append(uri)
        total_bytes = sum(Path(p).stat().st_size for p in local)
        results["shards"] = len(local)
        results["megabytes"] = round(total_bytes / 1e6, 1)

        tf_records = tf.data.TFRecordDataset(local)

        def tf_reader() -> int:  # counted inside TensorFlow: no per-record Python cost
            return int(tf_records.reduce(0, lambda count, _: count + 1))

        tf_reader()  # warmed: not timed

        def stream(files: list[str]) -> Callable[[], int]:
            plan = ShardPlan.for_worker(files, 1, 0)
            return lambda: sum(1 for _ in stream_records(plan, shuffle=True, seed=0, repeat=False))

        def batches(files: list[str]) -> Callable[[], int]:
            batched = performance_dataset(files, info, batch_size=BATCH, shuffle=True, seed=0)

            def count() -> int:  # each iteration is a new pass: its shards are read anew
                return sum(int(b["mask"].shape[0]) for b in batched)

            count()  # traced and warmed: not timed
            return count

        reading = {
            "tf_tfrecord_dataset_local": timed(tf_reader, args.repeats),
            "stream_local": timed(stream(local), args.repeats),
            "stream_emulator": timed(stream(remote), args.repeats),
            "batches_local": timed(batches(local), args.repeats),
            "batches_emulator": timed(batches(remote), args.repeats),
        }
        for row in reading.values():
            row["megabytes_per_s"] = round(
                row["records_per_s"] * total_bytes / row["records"] / 1e6, 1
            )
        results["reading"] = reading
        results["matmul_float32_gflops"] = matmul_gflops()
        results["training_step"] = training_need(dataset, args.train_steps)
        hungriest = max(m["records_per_s_needed"] for m in results["training_step"].values())
        results["batches_emulator_over_hungriest_step"] = round(
            reading["batches_emulator"]["records_per_s"] / hungriest, 1
        )
    text = json.dumps(results, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
