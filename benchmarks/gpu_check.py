"""GPU readiness: the cuDNN LSTM path, float16 training, training and generation speed, one run.

    benchmarks/gpu_check.sh [--cpu] [--budget-s 420] [OUT.json]

The JSON goes to ``$OUT/gpu_check.json`` when ``$OUT`` is set, else to OUT.json. On a GPU (one
run, under 8 minutes: each measurement starts only while ``--budget-s`` lasts, and the shell
wrapper stops the run at 7 min 50 s):

* checks, each a pass/fail in ``checks`` (exit 1 if any fails): a GPU is visible; actors that
  share a GPU get TensorFlow's memory growth (``musicgen.generate.batch``); the PerformanceRNN's
  LSTM layers qualify for Keras' cuDNN kernel by their arguments; the traced train step really
  runs ``CudnnRNNV3`` (and its backprop), under ``mixed_float16`` as under float32; and float16
  training with dynamic loss scaling (the trainer's own step and optimizer) has a finite, falling
  loss on a learnable sequence;
* figures: float32 and float16 matmul GFLOP/s (the machine's limit), training events/s of
  Magenta's 3 x 512 performance_with_dynamics model at batch 64, 256 and 1024 (512-event
  examples, float16 then float32, with the GFLOP/s that implies), and batched generation
  events/s at batch 64, 256 and 1024 (``benchmarks/generate.py``'s measurement, float32 as the
  generation job runs).

``--cpu`` is the dry run CI can afford (seconds, tiny sizes, GPUs hidden): the same code paths,
except that cuDNN cannot be taken, so only the layers' qualification is checked.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CONFIG = "performance_with_dynamics"  # one-hot inputs and 388 classes, as Magenta trains it
CUDNN_FORWARD = "CudnnRNNV3"
CUDNN_BACKWARD = "CudnnRNNBackpropV3"


@dataclass(frozen=True)
class Sizes:
    """How big each measurement is."""

    layers: tuple[int, ...]
    length: int  # events per training example
    train_batches: tuple[int, ...]
    train_steps: int  # timed steps per batch size
    check_batch: int
    check_steps: int  # steps of the float16 training check
    gen_batches: tuple[int, ...]
    gen_steps: int  # 10 ms steps per generated piece
    matmul_n: int


GPU = Sizes((512, 512, 512), 512, (64, 256, 1024), 5, 64, 40, (64, 256, 1024), 1000, 8192)
CPU = Sizes((16, 16), 16, (2, 4), 2, 8, 25, (2, 4), 200, 256)


class Budget:
    """Seconds left for measurements; each starts only if some remain."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def output_path(arg: str | None) -> Path | None:
    """``$OUT/gpu_check.json`` when ``$OUT`` is set, else the path given."""
    if os.environ.get("OUT"):
        return Path(os.environ["OUT"]) / "gpu_check.json"
    return Path(arg) if arg else None


def cudnn_disqualifiers(layer: Any) -> list[str]:
    """Why a Keras 3 LSTM layer cannot take the cuDNN kernel (empty: it qualifies on a GPU).

    Keras 3's LSTM (``keras/src/layers/rnn/lstm.py``) calls the backend's cuDNN LSTM when
    ``use_cudnn`` is "auto" or True and there is no recurrent dropout, and the TensorFlow backend
    (``backend/tensorflow/rnn.py``, ``cudnn_ok``) needs tanh and sigmoid activations, no unroll
    and a bias, and a visible GPU. Keras' own predicate, where it can be imported, must agree.
    """
    import tensorflow as tf
    from keras import activations, ops

    cell = layer.cell
    arguments = []  # the backend's cudnn_ok conditions
    if cell.activation not in (activations.tanh, tf.tanh, ops.tanh):
        arguments.append(f"activation {cell.activation.__name__}, not tanh")
    if cell.recurrent_activation not in (activations.sigmoid, tf.sigmoid, ops.sigmoid):
        arguments.append(f"recurrent_activation {cell.recurrent_activation.__name__}, not sigmoid")
    if layer.unroll:
        arguments.append("unroll=True")
    if not cell.use_bias:
        arguments.append("use_bias=False")
    reasons = list(arguments)
    if layer.use_cudnn not in ("auto", True):
        reasons.append(f"use_cudnn={layer.use_cudnn!r}")
    if cell.recurrent_dropout:
        reasons.append(f"recurrent_dropout={cell.recurrent_dropout}")
    try:
        from keras.src.backend.tensorflow.rnn import _do_lstm_arguments_support_cudnn
    except ImportError:  # a private name: its absence is no reason to fail
        return reasons
    keras_says = _do_lstm_arguments_support_cudnn(
        cell.activation, cell.recurrent_activation, layer.unroll, cell.use_bias
    )
    if keras_says == bool(arguments):
        reasons.append("Keras' own cuDNN test disagrees with this one: update this function")
    return reasons


def graph_ops(concrete: Any) -> set[str]:
    """Every op type in a traced function's graph and in the functions it calls."""
    graph_def = concrete.graph.as_graph_def()
    ops = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
        ops.update(node.op for node in function.node_def)
    return ops


def counting_batch(batch: int, length: int, classes: int, seed: int) -> dict[str, Any]:
    """Event ids that count up (mod ``classes``) from a random start: learnable in few steps."""
    import numpy as np
    import tensorflow as tf

    start = np.random.default_rng(seed).integers(0, classes, size=(batch, 1))
    ids = (start + np.arange(length + 1)) % classes
    return {
        "inputs": tf.constant(ids[:, :-1], tf.int32),
        "labels": tf.constant(ids[:, 1:], tf.int32),
        "mask": tf.ones((batch, length), tf.float32),
    }


def trainer(layers: tuple[int, ...], mixed: bool, learning_rate: float = 1e-3) -> Any:
    """The trainer's own model, optimizer and step (``musicgen.train.step``) on one device."""
    import keras
    import tensorflow as tf

    from musicgen.models.performance_rnn import PerformanceRNN, PerformanceRNNFamily
    from musicgen.train.config import OptimizerConfig
    from musicgen.train.step import build_optimizer, make_train_step

    keras.backend.clear_session()  # the previous measurement's model and graphs go
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    keras.utils.set_random_seed(0)
    model = PerformanceRNN(CONFIG, layers=layers)
    optimizer = build_optimizer(OptimizerConfig(learning_rate=learning_rate), mixed)  # Adam
    optimizer.build(model.trainable_variables)
    spec = {
        "inputs": tf.TensorSpec([None, None], tf.int32),
        "labels": tf.TensorSpec([None, None], tf.int32),
        "mask": tf.TensorSpec([None, None], tf.float32),
    }
    cfg = OptimizerConfig(learning_rate=learning_rate)
    step = make_train_step(tf.distribute.get_strategy(), PerformanceRNNFamily(), model,
                           optimizer, cfg, spec)  # fmt: skip
    return model, optimizer, step, spec


def cudnn_check(sizes: Sizes, on_gpu: bool) -> dict[str, Any]:
    """Qualification of every LSTM layer, and (on a GPU) the cuDNN ops in the traced step."""
    import keras

    out: dict[str, Any] = {}
    for mixed in (True, False):
        model, _, step, spec = trainer(sizes.layers, mixed)
        lstms = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
        ops = graph_ops(step.get_concrete_function(spec))
        out["mixed_float16" if mixed else "float32"] = {
            "lstm_layers": len(lstms),
            "compute_dtype": lstms[0].compute_dtype,
            "disqualified": {layer.name: r for layer in lstms if (r := cudnn_disqualifiers(layer))},
            "cudnn_ops": sorted(o for o in ops if o.startswith("CudnnRNN")),
        }
    out["qualifies"] = not any(v["disqualified"] for v in out.values())
    taken = [
        {CUDNN_FORWARD, CUDNN_BACKWARD} <= set(v["cudnn_ops"])
        for k, v in out.items()
        if k != "qualifies"
    ]
    out["taken"] = all(taken) if on_gpu else None
    return out


def mixed_precision_trains(sizes: Sizes) -> dict[str, Any]:
    """float16 with dynamic loss scaling: finite losses that fall on a learnable sequence."""
    from musicgen.models.family import LOSS_SUM, WEIGHT
    from musicgen.train.step import optimizer_state

    model, optimizer, step, _ = trainer(sizes.layers, mixed=True, learning_rate=3e-3)
    batch = counting_batch(sizes.check_batch, sizes.length, 388, seed=1)
    outputs = [step(batch) for _ in range(sizes.check_steps)]  # read once, after the loop
    losses = [float(s[LOSS_SUM]) / float(s[WEIGHT]) for s in outputs]
    finite = all(x == x and abs(x) != float("inf") for x in losses)
    tail = sum(losses[-3:]) / 3
    return {
        "steps": sizes.check_steps,
        "first_loss": round(losses[0], 4),
        "last_losses": [round(x, 4) for x in losses[-3:]],
        "layer_dtype": model.get_layer("lstm_0").compute_dtype,
        **optimizer_state(optimizer),
        "passed": finite and tail < 0.9 * losses[0],
    }


def train_rates(sizes: Sizes, mixed: bool, budget: Budget) -> dict[str, Any]:
    """Training events/s per batch size (tracing and one warm step excluded)."""
    from benchmarks.magenta_side import lstm_train_flops_per_position
    from musicgen.models.family import WEIGHT

    _, _, step, _ = trainer(sizes.layers, mixed)
    flops = lstm_train_flops_per_position(388, list(sizes.layers), 388)
    out: dict[str, Any] = {}
    for batch_size in sizes.train_batches:
        if budget.left() <= 0:
            out[f"batch_{batch_size}"] = "skipped: time budget spent"
            continue
        batch = counting_batch(batch_size, sizes.length, 388, seed=batch_size)
        float(step(batch)[WEIGHT])  # traced (once for every shape) and warmed
        began = time.perf_counter()
        for _ in range(sizes.train_steps):
            stats = step(batch)
        float(stats[WEIGHT])  # one read at the end: the device ran ahead meanwhile
        seconds = time.perf_counter() - began
        events = batch_size * sizes.length * sizes.train_steps
        out[f"batch_{batch_size}"] = {
            "steps": sizes.train_steps,
            "steps_per_s": round(sizes.train_steps / seconds, 3),
            "events_per_s": round(events / seconds, 1),
            "gflops": round(events * flops / seconds / 1e9, 1),
        }
    return out


def generation_rates(sizes: Sizes, budget: Budget) -> dict[str, Any]:
    """Batched generation events/s per batch size (``benchmarks/generate.py``'s measurement)."""
    import keras

    from benchmarks.generate import measure
    from musicgen.models.performance_rnn import PerformanceRNN

    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("float32")  # as generation jobs run
    keras.utils.set_random_seed(0)
    model = PerformanceRNN(CONFIG, layers=sizes.layers)
    out: dict[str, Any] = {"seconds_per_piece": sizes.gen_steps / 100}
    for batch_size in sizes.gen_batches:
        if budget.left() <= 0:
            out[f"batch_{batch_size}"] = "skipped: time budget spent"
            continue
        seeds = list(range(1000, 1000 + batch_size))
        out[f"batch_{batch_size}"] = measure(model, seeds, sizes.gen_steps, batched=True)
    return out


def device_facts() -> dict[str, Any]:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    details = [tf.config.experimental.get_device_details(g) for g in gpus]
    return {
        "tensorflow": tf.__version__,
        "gpus": [{k: str(v) for k, v in d.items()} for d in details],
        "cuda_build": tf.sysconfig.get_build_info().get("cuda_version"),
        "cudnn_build": tf.sysconfig.get_build_info().get("cudnn_version"),
    }


def run_checks(cpu: bool, budget: Budget, result: dict[str, Any]) -> list[str]:
    """Fills ``result``; returns the failed checks."""
    from musicgen.generate.batch import enable_memory_growth

    sizes = CPU if cpu else GPU
    result["sizes"] = asdict(sizes)
    growth = enable_memory_growth()  # first: before TensorFlow initializes the GPUs
    import tensorflow as tf

    from benchmarks.magenta_side import matmul_gflops

    result["device"] = device_facts()
    gpus = tf.config.list_physical_devices("GPU")
    checks: dict[str, Any] = {"gpu_visible": bool(gpus) if not cpu else None}
    checks["memory_growth"] = (
        growth == len(gpus) and all(tf.config.experimental.get_memory_growth(g) for g in gpus)
        if gpus
        else None
    )
    result["checks"] = checks
    if not cpu and not gpus:  # 3 x 512 at batch 1024 on a CPU would not end in 8 minutes
        result["hint"] = ("TensorFlow sees no GPU: install the gpu extra (pip install -e "
                          "'.[gpu]', i.e. tensorflow[and-cuda]) or check the driver")  # fmt: skip
        return ["gpu_visible"]
    dtypes = ("float32",) if cpu else ("float32", "float16")
    result["matmul_gflops"] = {d: matmul_gflops(d, n=sizes.matmul_n) for d in dtypes}
    cudnn = cudnn_check(sizes, on_gpu=bool(gpus))
    result["cudnn"] = cudnn
    checks["cudnn_qualifies"] = cudnn["qualifies"]
    checks["cudnn_taken"] = cudnn["taken"]
    mixed = mixed_precision_trains(sizes)
    result["mixed_precision_training"] = mixed
    checks["mixed_precision_trains"] = mixed["passed"]
    measurements: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("train_mixed_float16", lambda: train_rates(sizes, True, budget)),
        ("generate_float32", lambda: generation_rates(sizes, budget)),
        ("train_float32", lambda: train_rates(sizes, False, budget)),
    ]
    for name, measure_it in measurements:
        result[name] = measure_it() if budget.left() > 0 else "skipped: time budget spent"
    return [name for name, ok in checks.items() if ok is False]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", help="JSON result path (unless $OUT is set)")
    parser.add_argument("--cpu", action="store_true", help="dry run: tiny sizes, GPUs hidden")
    parser.add_argument("--budget-s", type=float, default=420.0, help="time for measurements")
    args = parser.parse_args(argv)
    out = output_path(args.out)
    if out is None:
        parser.error("name the JSON file, or set $OUT")
    if args.cpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"  # before TensorFlow is imported
    from musicgen.logs import quiet_libraries

    quiet_libraries()
    began = time.monotonic()
    result: dict[str, Any] = {"mode": "cpu dry run" if args.cpu else "gpu", "config": CONFIG}
    failed = ["interrupted"]
    try:
        failed = run_checks(args.cpu, Budget(args.budget_s), result)
    except KeyboardInterrupt:  # the wrapper's time limit: keep what was measured
        failed = ["interrupted"]
    except Exception as exc:  # noqa: BLE001 - recorded, with the traceback on stderr
        traceback.print_exc()
        result["error"] = repr(exc)
        failed = ["error"]
    finally:
        result["failed"] = failed
        result["elapsed_s"] = round(time.monotonic() - began, 1)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps({k: result.get(k) for k in ("mode", "checks", "failed", "elapsed_s")}))
        print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
