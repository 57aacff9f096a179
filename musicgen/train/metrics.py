"""Training metrics: ``metrics.jsonl`` rows, TensorBoard scalars, and per-window totals.

Only rank 0 writes. ``metrics.jsonl`` is kept whole in memory and rewritten (atomically, so a
gs:// run directory works like a local one) every ``flush``; on resume, rows after the restored
step are dropped, since those steps are trained again. TensorBoard events are written to a local
folder (the run's own ``tensorboard/`` when local) and, for gs:// runs, each finished event file
is uploaded once. Non-finite values are written as ``null`` (JSON has no NaN), never as strings.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from musicgen import storage
from musicgen.errors import ObjectNotFound


def read_rows(uri: str) -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl`` (none if it does not exist)."""
    try:
        text = storage.read_bytes(uri).decode("utf-8")
    except ObjectNotFound:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _finite(value: Any) -> Any:
    """JSON has no NaN/Infinity: a non-finite number (a diverged loss, a ``no_event_accuracy``
    with no events) is written as ``null``, never as a string such as ``"nan"``."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        value = value.item()  # a numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLog:
    """``metrics.jsonl`` of a run: one JSON row per log or evaluation."""

    def __init__(self, uri: str, resume_step: int) -> None:
        self.uri = uri
        self.rows = [r for r in read_rows(uri) if int(r.get("step", 0)) <= resume_step]
        self.started = time.time()
        self.flush()

    def add(self, row: Mapping[str, Any]) -> None:
        """Adds a row (``step``, ``split`` and metrics); written on the next flush."""
        self.rows.append({k: _finite(v) for k, v in row.items()} | {"time": time.time()})

    def flush(self) -> None:
        """Rewrites the file with every row."""
        text = "".join(json.dumps(r, sort_keys=True, allow_nan=False) + "\n" for r in self.rows)
        storage.write_text(self.uri, text)


class TensorBoard:
    """Scalars for TensorBoard: ``tensorboard/<split>/`` event files in the run directory.

    Local runs write into the run directory and keep their writers open. A gs:// run writes to
    a local folder and, on each flush, closes its writers and uploads the finished event files
    once each, then deletes them locally; the next scalars start new files. Objects cannot be
    appended to, so re-uploading one growing file would send the whole history at every
    checkpoint; TensorBoard reads the files of a folder in name order as one stream.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._tmp = (
            tempfile.TemporaryDirectory(prefix="musicgen-tb-") if storage.is_gcs(uri) else None
        )
        self.local = self._tmp.name if self._tmp else uri
        self._writers: dict[str, Any] = {}
        self.uploaded: list[str] = []  # object URIs, in upload order

    def scalars(self, split: str, step: int, values: Mapping[str, float]) -> None:
        """Writes ``values`` at ``step`` under ``split`` (``train``/``eval``)."""
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        # tf.summary.scalar needs the tensorboard package; this is what it writes, by TF alone.
        metadata = summary_pb2.SummaryMetadata()
        metadata.plugin_data.plugin_name = "scalars"
        if split not in self._writers:
            # Always a local folder: TensorFlow's file system never sees a gs:// URI.
            self._writers[split] = tf.summary.create_file_writer(str(Path(self.local) / split))
        with self._writers[split].as_default(step=step):
            for name, value in values.items():
                tf.summary.write(name, tf.constant(value, tf.float32), metadata=metadata)

    def flush(self) -> None:
        """Flushes the writers; for gs:// runs, uploads the finished event files once each."""
        if self._tmp is None:
            for writer in self._writers.values():
                writer.flush()
            return
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        for path in sorted(Path(self.local).rglob("*")):
            if path.is_file():
                target = storage.join(self.uri, path.relative_to(self.local).as_posix())
                storage.upload_file(str(path), target)
                path.unlink()
                self.uploaded.append(target)

    def close(self) -> None:
        self.flush()
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        if self._tmp is not None:
            self._tmp.cleanup()


class Window:
    """Summed batch stats and steps since the last progress line, with their rates."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.totals: dict[str, float] = {}
        self.steps = 0
        self.started = time.monotonic()

    def add(self, stats: Mapping[str, float], steps: int = 1) -> None:
        """Adds ``steps`` steps' summed stats (the trainer reads them in sums, not per step)."""
        self.steps += steps
        for key, value in stats.items():
            self.totals[key] = self.totals.get(key, 0.0) + value

    def rates(self, weight_key: str) -> dict[str, float]:
        """``steps_per_s`` and ``events_per_s`` (the family's WEIGHT per second)."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return {
            "steps_per_s": self.steps / elapsed,
            "events_per_s": self.totals.get(weight_key, 0.0) / elapsed,
        }


def add_totals(into: dict[str, float], stats: Iterable[tuple[str, float]]) -> None:
    """Adds batch stats to running totals (evaluation)."""
    for key, value in stats:
        into[key] = into.get(key, 0.0) + value
