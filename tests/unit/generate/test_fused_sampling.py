"""The compiled plain sampler: K steps per call, refilled and dropped slots."""

from __future__ import annotations

import numpy as np

from musicgen.encodings import performance as perf
from musicgen.generate import fused_sampling as fs
from musicgen.generate import performance_generator as pg
from musicgen.generate.performance_generator import (
    PerformanceSettings,
    PerformanceStepper,
    primer_events,
)


def test_steps_per_compiled_call_change_no_piece(performance_models: dict) -> None:
    """K steps per call draw each row's uniforms in the same order as one step per call."""

    settings = PerformanceSettings(num_steps=300)
    for kind in ("embedding", "multi"):
        model = performance_models[kind]
        if kind == "multi":
            settings = PerformanceSettings(num_steps=300, disable_conditioning=True)
        stepper = PerformanceStepper(model, settings)
        prime = primer_events(None, model.performance_config)
        state, logits, clock = pg._run_primer(stepper, prime)
        runs = [
            fs.sample_fused(
                stepper, settings, [4, 9], prime, state, logits, clock, 2000, per_call=k
            )
            for k in (1, 7, fs.MAX_STEPS_PER_CALL)
        ]
        for other in runs[1:]:
            for a, b in zip(runs[0], other, strict=True):
                assert np.array_equal(a.events, b.events)
                assert a.log_likelihood == b.log_likelihood
        assert all(perf.num_steps(g.events) >= 300 for g in runs[0])


def test_slots_refilled_with_new_pieces_change_no_piece(performance_models: dict) -> None:
    """Eight seeds through three slots (each slot takes the next piece when its own ends) give
    the pieces eight rows give, and each piece alone."""

    model = performance_models["embedding"]
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


def test_calls_are_long_for_few_rows_and_short_for_many() -> None:
    """A lone row pays the call's fixed cost rarely; many rows waste little at piece ends."""
    assert fs.steps_per_call(1) == fs.MAX_STEPS_PER_CALL
    assert fs.steps_per_call(256) == fs.MIN_STEPS_PER_CALL
    sizes = [fs.steps_per_call(rows) for rows in (1, 16, 32, 64, 128, 256, 4096)]
    assert sizes == sorted(sizes, reverse=True)
