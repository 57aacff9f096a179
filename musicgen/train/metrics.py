"""Training metrics: ``metrics.jsonl`` rows, TensorBoard scalars, and per-window totals.

Only rank 0 writes. ``metrics.jsonl`` is kept whole in memory and rewritten (atomically, so a
gs:// run directory works like a local one) every ``flush``; on resume, rows after the restored
step are dropped, since those steps are trained again. TensorBoard events are written to a local
folder (the run's own ``tensorboard/`` when local) and uploaded on flush for gs:// runs.
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
    # JSON has no NaN/Infinity: a diverged loss is written as a string.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
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
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.rows)
        storage.write_text(self.uri, text)


class TensorBoard:
    """Scalars for TensorBoard: ``tensorboard/<split>/`` event files in the run directory."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._tmp = (
            tempfile.TemporaryDirectory(prefix="musicgen-tb-") if storage.is_gcs(uri) else None
        )
        self.local = self._tmp.name if self._tmp else uri
        self._writers: dict[str, Any] = {}

    def scalars(self, split: str, step: int, values: Mapping[str, float]) -> None:
        """Writes ``values`` at ``step`` under ``split`` (``train``/``eval``)."""
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        # tf.summary.scalar needs the tensorboard package; this is what it writes, by TF alone.
        metadata = summary_pb2.SummaryMetadata()
        metadata.plugin_data.plugin_name = "scalars"
        if split not in self._writers:
            self._writers[split] = tf.summary.create_file_writer(str(Path(self.local) / split))
        with self._writers[split].as_default(step=step):
            for name, value in values.items():
                tf.summary.write(name, tf.constant(value, tf.float32), metadata=metadata)

    def flush(self) -> None:
        """Flushes the writers; for gs:// runs, uploads the event files."""
        for writer in self._writers.values():
            writer.flush()
        if self._tmp is not None:
            for path in Path(self.local).rglob("*"):
                if path.is_file():
                    rel = path.relative_to(self.local).as_posix()
                    storage.upload_file(str(path), storage.join(self.uri, rel))

    def close(self) -> None:
        self.flush()
        for writer in self._writers.values():
            writer.close()
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

    def add(self, stats: Mapping[str, float]) -> None:
        self.steps += 1
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
