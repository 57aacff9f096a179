"""Training throughput on this CPU, beside Magenta's own training step, in one invocation.

    .venv/bin/python benchmarks/train.py [--steps 20] [--warmup 5] [--records 256]
        [--loss-steps 300 [--loss-layers 512 512 512] [--loss-only]]
        [--scaling --songs 40 --scaling-steps 12] [--out results/train.json]

Side by side (always): Magenta's 3 x 512 performance_with_dynamics graph, timed by the harness in
../shared/magenta/ (its own input queue, ``sess.run(train_op)``), and our step on the same
records (Magenta's golden training examples, turned into our compact format), batch 64, 2
threads, in float32 and with mixed bfloat16 (``--loss-steps N`` also trains both N steps on the
same batches and compares their losses). Both report medians over ``--steps`` steps after
``--warmup`` untimed ones (our first call traces; nothing traced is timed), per real event and
per padded position, and their achieved GFLOP/s beside this machine's float32 and bfloat16
matmul GFLOP/s, measured in the same run. ``--scaling`` adds the 1 -> 2 Ray Train worker
comparison through the real driver on POP909 songs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import magenta_side  # noqa: E402  (needs the repository on the path)

# The big benchmark data (README "Development"): $MUSICGEN_DATA, else ../shared beside the checkout.
DATA = Path(os.environ.get("MUSICGEN_DATA") or REPO.parent / "shared")
POP909 = DATA / "datasets" / "midi" / "pop909" / "midi"

MODELS: dict[str, dict[str, Any]] = {
    "magenta_3x512_one_hot": {"layers": [512, 512, 512], "input_mode": "one_hot", "batch": 64},
    "small_2x128_embedding": {
        "layers": [128, 128], "input_mode": "embedding", "embedding_dim": 64, "batch": 64,
    },
}  # fmt: skip


def require_pop909() -> None:
    """Exits 2 with one line naming the folder when the benchmark's POP909 data is missing."""
    if not POP909.exists():
        print(
            f"benchmark data missing: {POP909} (POP909, 809 MIDI files; set MUSICGEN_DATA)",
            file=sys.stderr,
        )
        sys.exit(2)


def make_examples(songs: int, root: Path) -> Path:
    """``songs`` POP909 songs as compact performance_with_dynamics examples under ``root``."""
    from musicgen.config import ConvertConfig, ExamplesConfig
    from musicgen.corpus.pipeline import convert_corpus
    from musicgen.examples.pipeline import make_examples as run_examples

    corpus = root / "midi"
    corpus.mkdir()
    for path in sorted(POP909.glob("*.mid"))[:songs]:
        shutil.copy(path, corpus / path.name)
    convert_corpus(ConvertConfig(input=str(corpus), output=str(root / "seq")))
    run_examples(ExamplesConfig(input=str(root / "seq"), output=str(root / "ex")))
    return root / "ex"


def run(
    dataset: Path, runs: Path, name: str, spec: dict[str, Any], workers: int, steps: int
) -> dict[str, Any]:
    from musicgen.train.config import DataConfig, TrainConfig, model_config
    from musicgen.train.driver import train
    from musicgen.train.metrics import read_rows

    model = {k: (tuple(v) if isinstance(v, list) else v) for k, v in spec.items() if k != "batch"}
    cfg = TrainConfig(
        model=model_config(family="performance_rnn", **model),
        data=DataConfig(dataset=str(dataset)),
        runs_dir=str(runs), run_id=f"{name}-{workers}w", batch_size=spec["batch"],
        num_steps=steps, log_every=2, checkpoint_every=steps, eval_batches=1,
        num_workers=workers,
    )  # fmt: skip
    report = train(cfg)
    rows = [
        r for r in read_rows(str(Path(report.run_dir) / "metrics.jsonl")) if r["split"] == "train"
    ]
    steady = rows[1:] or rows
    steps_per_s = statistics.median(r["steps_per_s"] for r in steady)
    events_per_s = statistics.median(r["events_per_s"] for r in steady)
    return {
        "workers": workers,
        "global_batch": spec["batch"],
        "steps": steps,
        "steps_per_s": round(steps_per_s, 3),
        "events_per_s": round(events_per_s, 1),
        "events_per_s_per_worker": round(events_per_s / workers, 1),
        "wall_s": round(report.wall_s, 1),
        "final_loss": rows[-1]["loss"] if rows else None,
    }


SIDE_BY_SIDE = {"layers": [512, 512, 512], "input_mode": "one_hot"}
CONFIG = "performance_with_dynamics"


def our_step(
    dataset: Path,
    steps: int,
    warmup: int,
    batch: int,
    policy: str = "float32",
    layers: tuple[int, ...] = tuple(SIDE_BY_SIDE["layers"]),
) -> dict[str, Any]:
    """Our training step (the distributed step function the workers run, one worker) on the
    dataset's batches: distinct batches, as Magenta's queue gives, read ahead of the timing.

    ``policy``: the Keras dtype policy (``mixed_bfloat16``: bfloat16 compute, float32 weights;
    bfloat16 needs no loss scaling). The losses of every step come back in ``losses``.
    """
    import keras
    import tensorflow as tf

    from musicgen.examples.encoding_info import read_encoding_info
    from musicgen.examples.readers import list_shards
    from musicgen.models.registry import get_family
    from musicgen.train.config import DataConfig, OptimizerConfig, model_config
    from musicgen.train.step import build_optimizer, make_train_step

    info = read_encoding_info(str(dataset))
    family = get_family("performance_rnn")
    spec = {**SIDE_BY_SIDE, "layers": tuple(layers)}
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(1234)  # the same initial weights for every policy
    try:
        model = family.build(model_config(family="performance_rnn", **spec), info)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    optimizer = build_optimizer(OptimizerConfig(), mixed_precision=False)
    optimizer.build(model.trainable_variables)
    data = family.dataset(
        list_shards(str(dataset), "train"), info, DataConfig(dataset=str(dataset)),
        batch_size=batch, training=True, seed=0, num_shards=1, shard_index=0,
    )  # fmt: skip
    batches = list(data.take(steps + warmup))
    step = make_train_step(
        tf.distribute.get_strategy(), family, model, optimizer, OptimizerConfig(), data.element_spec
    )
    times, events, padded, losses = [], [], [], []
    for i, b in enumerate(batches):
        began = time.perf_counter()
        out = {k: float(v) for k, v in step(b).items()}  # float(): the step has finished
        if i >= warmup:
            times.append(time.perf_counter() - began)
            events.append(int(tf.reduce_sum(b["mask"])))
            padded.append(int(tf.size(b["mask"])))
        losses.append(out.get("loss_sum", 0.0) / max(out.get("weight", 1.0), 1.0))
    total = sum(times)
    return {
        "median_step_s": statistics.median(times),
        "steps_per_s": len(times) / total,
        "events_per_s": sum(events) / total,
        "padded_positions_per_s": sum(padded) / total,
        "mean_events_per_step": statistics.mean(events),
        "mean_padded_positions_per_step": statistics.mean(padded),
        "trainable_params": int(sum(int(tf.size(v)) for v in model.trainable_variables)),
        "losses": losses,
    }


def side_by_side(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Magenta's step and ours on the same records, and the machine's limit, in one run."""
    import tensorflow as tf

    from musicgen.encodings.performance_configs import get_config

    # The harness gives Magenta 2 intra- and inter-op threads (--threads 2): the same for us.
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(2)

    records = magenta_side.golden_training_records(CONFIG)
    config = get_config(CONFIG)
    flops = magenta_side.lstm_train_flops_per_position(
        config.input_size, SIDE_BY_SIDE["layers"], config.num_event_classes
    )
    limit = {
        "matmul_float32_gflops": magenta_side.matmul_gflops("float32"),
        "matmul_bfloat16_gflops": magenta_side.matmul_gflops("bfloat16"),
    }
    magenta = magenta_side.run_harness(
        "bench_train.py", "--config", CONFIG, "--examples", str(records),
        "--steps", str(args.steps), "--warmup", str(args.warmup), "--batch-size", "64",
        "--threads", "2", "--max-records", str(args.records), "--seed", "1234",
    )  # fmt: skip
    dataset = magenta_side.magenta_records_as_compact(records, CONFIG, tmp / "ex", args.records)
    ours = our_step(dataset, args.steps, args.warmup, 64)
    ours_bf16 = our_step(dataset, args.steps, args.warmup, 64, policy="mixed_bfloat16")
    rows = {}
    for name, r in (("magenta", magenta), ("musicgen", ours), ("musicgen_bfloat16", ours_bf16)):
        rows[name] = {
            "median_step_s": round(r["median_step_s"], 3),
            "steps_per_s": round(r["steps_per_s"], 4),
            "events_per_s": round(r["events_per_s"], 1),
            "padded_positions_per_s": round(r["padded_positions_per_s"], 1),
            "achieved_gflops": round(r["padded_positions_per_s"] * flops / 1e9, 1),
        }
    return {
        "model": "3x512 one-hot, batch 64, float32, 2 threads",
        "records": args.records,
        "measured_steps": args.steps,
        "warmup_steps": args.warmup,
        "machine": limit,
        **rows,
        "ratio_events_per_s": round(ours["events_per_s"] / magenta["events_per_s"], 2),
        "ratio_bfloat16_events_per_s": round(
            ours_bf16["events_per_s"] / magenta["events_per_s"], 2
        ),
        "ratio_padded_positions_per_s": round(
            ours["padded_positions_per_s"] / magenta["padded_positions_per_s"], 2
        ),
        "musicgen_share_of_float32_limit": round(
            rows["musicgen"]["achieved_gflops"] / limit["matmul_float32_gflops"], 2
        ),
        "magenta_share_of_float32_limit": round(
            rows["magenta"]["achieved_gflops"] / limit["matmul_float32_gflops"], 2
        ),
        "musicgen_bfloat16_share_of_bfloat16_limit": round(
            rows["musicgen_bfloat16"]["achieved_gflops"] / limit["matmul_bfloat16_gflops"], 2
        ),
    }


def loss_check(dataset: Path, steps: int, layers: tuple[int, ...]) -> dict[str, Any]:
    """float32 and mixed_bfloat16 trained ``steps`` steps from the same weights on the same
    batches: the mean loss of the last 10 steps of each, and their relative difference."""
    tail = min(10, steps)
    finals = {}
    for policy in ("float32", "mixed_bfloat16"):
        losses = our_step(dataset, steps, 0, 64, policy=policy, layers=layers)["losses"]
        finals[policy] = statistics.mean(losses[-tail:])
    return {
        "layers": list(layers),
        "steps": steps,
        "float32_loss": round(finals["float32"], 4),
        "bfloat16_loss": round(finals["mixed_bfloat16"], 4),
        "relative_difference": round(
            abs(finals["mixed_bfloat16"] - finals["float32"]) / finals["float32"], 4
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps (side by side)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--records", type=int, default=256, help="Magenta records used")
    parser.add_argument(
        "--loss-steps", type=int, default=0, help="also train float32 and bfloat16 this many "
        "steps on the same batches and compare the losses (the issue's check: 300)",
    )  # fmt: skip
    parser.add_argument(
        "--loss-layers", type=int, nargs="+", default=SIDE_BY_SIDE["layers"],
        help="the LSTM sizes of the loss check (default Magenta's 3 x 512)",
    )  # fmt: skip
    parser.add_argument(
        "--loss-only", action="store_true", help="only the loss check: no Magenta, no timing"
    )
    parser.add_argument("--scaling", action="store_true", help="also 1 -> 2 Ray Train workers")
    parser.add_argument("--songs", type=int, default=40)
    parser.add_argument("--scaling-steps", type=int, default=12)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/train.json")
    args = parser.parse_args()
    results: dict[str, Any] = {"config": CONFIG}
    with tempfile.TemporaryDirectory() as tmp:
        if args.loss_only:
            records = magenta_side.golden_training_records(CONFIG)
            magenta_side.magenta_records_as_compact(records, CONFIG, Path(tmp) / "ex", args.records)
        else:
            results["side_by_side"] = side_by_side(args, Path(tmp))
        if args.loss_steps:
            results["bfloat16_loss_check"] = loss_check(
                Path(tmp) / "ex", args.loss_steps, tuple(args.loss_layers)
            )
        if args.scaling:
            require_pop909()
            from musicgen.ray_tasks import init_ray

            dataset = make_examples(args.songs, Path(tmp))
            init_ray(None, 2)
            for name, spec in MODELS.items():
                one = run(dataset, Path(tmp) / "runs", name, spec, 1, args.scaling_steps)
                two = run(dataset, Path(tmp) / "runs", name, spec, 2, args.scaling_steps)
                results[name] = {
                    "1_worker": one,
                    "2_workers": two,
                    "scaling_1_to_2": round(two["events_per_s"] / one["events_per_s"], 2),
                }
    text = json.dumps(results, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
