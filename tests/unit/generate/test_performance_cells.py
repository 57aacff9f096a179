"""The gathered PerformanceRNN step equals Keras' cells, and is chosen exactly where it applies."""

from __future__ import annotations

import numpy as np
import pytest

from musicgen.generate import performance_cells as pc
from musicgen.generate.performance_generator import PerformanceSettings, PerformanceStepper


@pytest.mark.parametrize(
    ("kind", "gathered"),
    [("one_hot", True), ("multi", True), ("embedding", False), ("modulo", False)],
)
def test_gathered_cells_compute_what_kerass_cells_compute(
    kind: str, gathered: bool, performance_models: dict
) -> None:
    """The gathered step (rows of the first kernel, one [x, h] GEMM per layer) gives Keras'
    logits and states from the same rows, step after step; it is chosen exactly for one-hot
    event inputs."""
    model = performance_models[kind]
    settings = PerformanceSettings(num_steps=500, disable_conditioning=kind == "multi")
    stepper = PerformanceStepper(model, settings)
    controls = stepper.controls.rows(np.arange(500)).astype(np.float32)
    cells = pc.step_cells(stepper, controls.shape[1])
    assert isinstance(cells, pc.GatheredCells) is gathered
    reference = pc.KerasCells(stepper)
    rng = np.random.default_rng(0)
    state = [rng.normal(size=s.shape).astype(np.float32) for s in stepper.zero_state(5)]
    ours, theirs = list(state), list(state)
    packed = cells.packed()
    for t in range(6):
        picks = rng.integers(0, stepper.config.num_event_classes, size=5).astype(np.int32)
        rows = controls[[t, t + 3, 7, 0, 100]]
        logits, ours = cells(rows, picks, ours, packed)
        expected, theirs = reference(rows, picks, theirs, ())
        np.testing.assert_allclose(logits.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)
