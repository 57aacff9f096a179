"""Step stats summed on the device: read once per fetch, never per step, divergence kept."""

from __future__ import annotations

import math
from typing import Any

import pytest

from musicgen.models.family import LOSS_SUM, WEIGHT
from musicgen.train.device_totals import DeviceTotals, Fetched


def stats(loss_sum: float, weight: float, correct: float = 0.0) -> dict[str, Any]:
    import tensorflow as tf

    return {LOSS_SUM: tf.constant(loss_sum), WEIGHT: tf.constant(weight),
            "correct": tf.constant(correct)}  # fmt: skip


@pytest.fixture
def host_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts copies of tensor values to the host (behind float(), .numpy(), bool() ...)."""
    from tensorflow.python.framework import ops

    reads: list[int] = []
    real = ops._EagerTensorBase._numpy

    def counting(tensor: Any) -> Any:
        reads.append(1)
        return real(tensor)

    monkeypatch.setattr(ops._EagerTensorBase, "_numpy", counting)
    return reads


def test_sums_are_read_once_per_fetch_and_never_while_adding(host_reads: list[int]) -> None:
    totals = DeviceTotals()
    batch = [stats(12.0, 4.0, 1.0), stats(6.0, 2.0, 2.0), stats(3.0, 1.0, 0.0)]
    for step, values in enumerate(batch, start=1):
        totals.add(step, values)
    assert host_reads == []
    fetched = totals.fetch()
    assert len(host_reads) == 1
    assert fetched == Fetched({"correct": 3.0, LOSS_SUM: 21.0, WEIGHT: 7.0}, steps=3)
    assert totals.fetch() == Fetched({}, 0)  # it starts again from zero


def test_the_first_non_finite_step_and_its_loss_are_kept(host_reads: list[int]) -> None:
    totals = DeviceTotals()
    for step, loss_sum in ((7, 1.0), (8, math.inf), (9, math.nan), (10, 2.0)):
        totals.add(step, stats(loss_sum, 2.0))
    fetched = totals.fetch()
    assert (fetched.steps, fetched.diverged_at, fetched.diverged_loss) == (4, 8, math.inf)
    totals.add(11, stats(1.0, 1.0))
    assert totals.fetch().diverged_at is None  # a new window


def test_sums_keep_float64_precision_beyond_float32() -> None:
    totals = DeviceTotals()
    for step, weight in enumerate((2.0**24, 2.0**24, 1.0), start=1):
        totals.add(step, stats(1.0, weight))
    assert totals.fetch().totals[WEIGHT] == 2.0**25 + 1  # float32 would give 2**25
