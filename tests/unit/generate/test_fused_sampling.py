"""The compiled plain sampler: K steps per call, refilled slots, and the gathered cells."""

from __future__ import annotations

import numpy as np
import pytest

from musicgen.encodings import performance as perf
from musicgen.generate import fused_sampling as fs
from musicgen.generate import performance_generator as pg
from musicgen.generate.performance_generator import (
    PerformanceSettings,
    PerformanceStepper,
    primer_events,
)


@pytest.fixture(scope="module")
def models() -> dict[str, object]:
    import keras

    from musicgen.models.performance_rnn import PerformanceRNN

    keras.utils.set_random_seed(2)
    return {
        "embedding": PerformanceRNN("performance_with_dynamics", layers=(32, 24),
                                    input_mode="embedding", embedding_dim=8),
        "one_hot": PerformanceRNN("performance_with_dynamics", layers=(24, 16, 16)),
        "multi": PerformanceRNN("optional_multiconditioned_performance_with_dynamics",
                                layers=(16, 12)),
        "modulo": PerformanceRNN("performance_with_dynamics_and_modulo_encoding", layers=(8,)),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "gathered"),
    [("one_hot", True), ("multi", True), ("embedding", False), ("modulo", False)],
)
def test_gathered_cells_compute_what_kerass_cells_compute(
    kind: str, gathered: bool, models: dict
) -> None:
    """The gathered step (rows of the first kernel, one [x, h] GEMM per layer) gives Keras'
    logits and states from the same rows, step after step; it is chosen exactly for one-hot
    event inputs."""
    model = models[kind]
    settings = PerformanceSettings(num_steps=500, disable_conditioning=kind == "multi")
    stepper = PerformanceStepper(model, settings)
    controls = stepper.controls.rows(np.arange(500)).astype(np.float32)
    cells = fs.step_cells(stepper, controls.shape[1])
    assert isinstance(cells, fs.GatheredCells) is gathered
    reference = fs.KerasCells(stepper)
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


def test_steps_per_compiled_call_change_no_piece(models: dict) -> None:
    """K steps per call draw each row's uniforms in the same order as one step per call."""

    settings = PerformanceSettings(num_steps=300)
    for kind in ("embedding", "multi"):
        model = models[kind]
        if kind == "multi":
            settings = PerformanceSettings(num_steps=300, disable_conditioning=True)
        stepper = PerformanceStepper(model, settings)
        prime = primer_events(None, model.performance_config)
        state, logits, clock = pg._run_primer(stepper, prime)
        runs = [
            fs.sample_fused(
                stepper, settings, [4, 9], prime, state, logits, clock, 2000, steps_per_call=k
            )
            for k in (1, 7, fs.STEPS_PER_CALL)
        ]
        for other in runs[1:]:
            for a, b in zip(runs[0], other, strict=True):
                assert np.array_equal(a.events, b.events)
                assert a.log_likelihood == b.log_likelihood
        assert all(perf.num_steps(g.events) >= 300 for g in runs[0])


def test_slots_refilled_with_new_pieces_change_no_piece(models: dict) -> None:
    """Eight seeds through three slots (each slot takes the next piece when its own ends) give
    the pieces eight rows give, and each piece alone."""

    model = models["embedding"]
    settings = PerformanceSettings(num_steps=250)
    stepper = PerformanceStepper(model, settings)
    prime = primer_events(None, model.performance_config)
    state, logits, clock = pg._run_primer(stepper, prime)
    seeds = [3, 1, 4, 1, 5, 9, 2, 6]

    def run(rows: int, per_call: int, chosen: list[int]) -> list:
        return fs.sample_fused(
            stepper, settings, chosen, prime, state, logits, clock, 5000, per_call, rows
        )

    wide, narrow = run(8, 64, seeds), run(3, 5, seeds)
    for a, b in zip(wide, narrow, strict=True):
        assert np.array_equal(a.events, b.events)
        assert a.log_likelihood == b.log_likelihood
    assert np.array_equal(run(1, 64, [9])[0].events, wide[5].events)
    assert len({len(g.events) for g in wide}) > 1  # pieces of different lengths: refills happen
