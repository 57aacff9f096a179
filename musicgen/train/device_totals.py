"""Per-step stats summed where they are computed, read by the host only when asked.

Reading a tensor's value (``float(t)``, ``t.numpy()``) makes Python wait until every step queued
before it has run. So the trainer adds each step's stats to running sums with tensor ops (queued
behind the step, like it) and reads the sums once per log, evaluation or checkpoint step: in
between, a GPU runs ahead of the Python loop. The sums are float64, as Python's were: a window of
thousands of steps counts more events than float32 holds exactly.

A non-finite loss is therefore found at the next read, not at its own step; the sums keep the
first step whose loss was not finite, and that loss, so the record still names where training
diverged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from musicgen.models.family import LOSS_SUM, WEIGHT

if TYPE_CHECKING:
    import tensorflow as tf


@dataclass(frozen=True)
class Fetched:
    """What one read gives: the sums since the previous read, and any divergence among them.

    Attributes:
        totals: Each stat summed over ``steps`` steps.
        steps: Steps added since the previous read.
        diverged_at: The first of them whose loss was not finite (None: all finite).
        diverged_loss: That step's loss (NaN or infinite).
    """

    totals: dict[str, float]
    steps: int
    diverged_at: int | None = None
    diverged_loss: float | None = None


class DeviceTotals:
    """Running sums of a step's stats (a dict of scalar tensors), kept as tensors until read."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._sums: dict[str, Any] = {}
        self._bad_step: Any = None  # float64 scalar: the first non-finite step, 0 if none
        self._bad_loss: Any = None
        self.steps = 0

    def add(self, step: int, stats: Mapping[str, tf.Tensor]) -> None:
        """Adds the stats (LOSS_SUM and WEIGHT among them) of ``step`` (counted from 1); reads
        nothing back."""
        import tensorflow as tf

        values = {k: tf.cast(v, tf.float64) for k, v in stats.items()}
        loss = values[LOSS_SUM] / tf.maximum(values[WEIGHT], 1.0)
        if not self._sums:
            self._sums = values
            self._bad_step = tf.constant(0.0, tf.float64)
            self._bad_loss = tf.constant(0.0, tf.float64)
        else:
            self._sums = {k: self._sums[k] + v for k, v in values.items()}
        first_bad = tf.logical_and(
            tf.logical_not(tf.math.is_finite(loss)), tf.equal(self._bad_step, 0.0)
        )
        self._bad_step = tf.where(first_bad, tf.constant(float(step), tf.float64), self._bad_step)
        self._bad_loss = tf.where(first_bad, loss, self._bad_loss)
        self.steps += 1

    def fetch(self) -> Fetched:
        """The sums so far, copied to the host in one read; the sums then start again from zero."""
        import tensorflow as tf

        if not self._sums:
            return Fetched({}, 0)
        keys = sorted(self._sums)
        packed = tf.stack([self._sums[k] for k in keys] + [self._bad_step, self._bad_loss])
        values = [float(v) for v in packed.numpy()]  # the one host read
        fetched = Fetched(dict(zip(keys, values[:-2], strict=True)), self.steps)
        bad_step, bad_loss = values[-2:]
        if bad_step:
            fetched = Fetched(fetched.totals, fetched.steps, int(bad_step), bad_loss)
        self._reset()
        return fetched
