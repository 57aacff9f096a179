"""Magenta's own code beside ours, in the same invocation: the harness in ../shared/magenta/.

The harness runs Magenta's unmodified PerformanceRNN (TF1 graph through ``tf.compat.v1``) from a
separate virtualenv, created on first use in ``$XDG_CACHE_HOME/musicgen/magenta-venv`` by the
harness's own ``setup.sh``. Its scripts print one JSON object each; this module runs them and
returns that object. Also here: the machine's matmul limit, and Magenta's golden records turned
into the same examples in our compact format.
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# The big benchmark data (README "Development"): $MUSICGEN_DATA, else ../shared beside the checkout.
DATA = Path(os.environ.get("MUSICGEN_DATA") or REPO.parent / "shared")
HARNESS = DATA / "magenta"
GOLDEN_EXAMPLES = DATA / "golden" / "magenta-performance-rnn"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "musicgen"


def require(path: Path, what: str) -> None:
    """Exits 2 with one line naming ``path`` when the benchmark's input is missing."""
    if not path.exists():
        print(f"benchmark data missing: {path} ({what}; set MUSICGEN_DATA)", file=sys.stderr)
        sys.exit(2)


def magenta_python() -> Path:
    """The harness venv's python, created by the harness's ``setup.sh`` on first use."""
    require(HARNESS / "setup.sh", "Magenta's source and harness")
    venv = CACHE / "magenta-venv"
    proc = subprocess.run(
        ["bash", str(HARNESS / "setup.sh"), str(venv)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        print(f"Magenta harness setup failed:\n{proc.stdout}{proc.stderr}", file=sys.stderr)
        sys.exit(2)
    return venv / "bin" / "python"


def run_harness(script: str, *args: str, timeout_s: float = 3600) -> dict[str, Any]:
    """Runs one harness script with Magenta's venv and returns its JSON result."""
    python = magenta_python()
    proc = subprocess.run(
        [str(python), str(HARNESS / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.splitlines()[-20:])
        raise RuntimeError(f"{script} {' '.join(args)} failed ({proc.returncode}):\n{tail}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def golden_training_records(config: str) -> Path:
    """Magenta's own training examples for ``config`` (``performance_rnn_create_dataset``)."""
    path = (
        GOLDEN_EXAMPLES / config / "all_training_eval_ratio_0" / "training_performances.tfrecord.gz"
    )
    require(path, f"Magenta's golden {config} examples")
    return path


def magenta_records_as_compact(
    gz_path: Path, config_name: str, out_dir: Path, max_records: int
) -> Path:
    """The same performances as a compact dataset of ours: events = [first input, *labels].

    Magenta's record of a performance holds one-hot ``inputs`` (event t) and ``labels``
    (event t + 1), so the event ids are the first input's argmax followed by the labels.
    """
    import numpy as np
    import tensorflow as tf

    from musicgen.encodings.performance_configs import get_config
    from musicgen.examples.compact_format import serialize_performance
    from musicgen.examples.encoding_info import EncodingInfo, write_encoding_info
    from musicgen.storage import layout, tfrecord

    config = get_config(config_name)
    with gzip.open(gz_path, "rb") as raw:
        records = list(tfrecord.read_records(raw, uri=str(gz_path)))[: max_records or None]
    out = []
    for i, record in enumerate(records):
        example = tf.train.SequenceExample.FromString(record)
        lists = example.feature_lists.feature_list
        first = np.argmax(lists["inputs"].feature[0].float_list.value)
        labels = [f.int64_list.value[0] for f in lists["labels"].feature]
        events = np.array([first, *labels], np.int64)
        out.append(serialize_performance(events, config, id=f"magenta-{i}", split="train"))
    tfrecord.write_tfrecord_file(str(out_dir / layout.example_shard_name("train", 0, 1)), out)
    write_encoding_info(str(out_dir), EncodingInfo.for_performance(config, eval_ratio=0.0))
    return out_dir


def matmul_gflops(dtype: str = "float32", n: int = 2048, repeats: int = 7) -> float:
    """Median GFLOP/s of an ``n`` x ``n`` matmul in ``dtype`` (tracing excluded): the limit."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal([n, n]), dtype)
    b = tf.cast(tf.random.normal([n, n]), dtype)
    matmul = tf.function(lambda x, y: tf.matmul(x, y))
    matmul(a, b).numpy()  # traced and warmed
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        matmul(a, b).numpy()
        times.append(time.perf_counter() - began)
    return round(2 * n**3 / statistics.median(times) / 1e9, 1)


def lstm_train_flops_per_position(input_size: int, layers: list[int], classes: int) -> float:
    """FLOPs of one training position (forward x 3, the usual backward estimate) of a stacked
    LSTM with a dense softmax layer: what both implementations compute per padded position."""
    forward, width = 0, input_size
    for units in layers:
        forward += 2 * (width + units) * 4 * units
        width = units
    forward += 2 * width * classes
    return 3.0 * forward
