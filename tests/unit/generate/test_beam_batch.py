"""Beam search for many pieces at once equals Magenta's one-piece beam search, piece by piece."""

from __future__ import annotations

import numpy as np
import pytest

from musicgen.generate.beam_batch import beam_search_batch
from musicgen.generate.sampling import SamplingSettings, beam_search
from tests.unit.generate.test_sampling import MarkovStepper

SETTINGS = [
    SamplingSettings(beam_size=4, branch_factor=2),
    SamplingSettings(beam_size=3, branch_factor=3, steps_per_iteration=4, temperature=0.8),
    SamplingSettings(beam_size=2, branch_factor=2, argmax=True, loop_window=3),
    SamplingSettings(beam_size=4, branch_factor=2, top_k=3),
]


@pytest.mark.parametrize("settings", SETTINGS)
def test_each_piece_equals_the_one_piece_search(settings: SamplingSettings) -> None:
    transitions = np.random.default_rng(1).dirichlet(np.full(7, 0.4), size=7)
    stepper = MarkovStepper(transitions)
    logits0, state0 = stepper.step(np.array([2]), np.array([2]))
    seeds = [5, 0, 17, 5, 300]
    stepper.calls = 0
    batch = beam_search_batch(stepper, state0, logits0, [1, 2], 23, settings, seeds)
    assert stepper.calls == 23  # one model call per step for every piece together
    for seed, (tokens, score) in zip(seeds, batch, strict=True):
        want_tokens, want_score = beam_search(stepper, state0, logits0, [1, 2], 23, settings, seed)
        assert tokens == want_tokens
        assert score == want_score
    assert batch[0] == batch[3]  # the same seed, the same piece
    assert len({tuple(t) for t, _ in batch}) > 1


def test_a_real_model_beams_every_piece_together() -> None:
    import keras

    from musicgen.generate.performance_generator import (
        PerformanceSettings,
        PerformanceStepper,
        _EventStepper,
        _run_primer,
        generate,
        primer_events,
    )
    from musicgen.generate.sampling import log_softmax
    from musicgen.models.performance_rnn import PerformanceRNN

    keras.utils.set_random_seed(3)
    model = PerformanceRNN("performance_with_dynamics", layers=(16, 16))
    sampling = SamplingSettings(beam_size=2, branch_factor=2, steps_per_iteration=5)
    settings = PerformanceSettings(num_steps=200, sampling=sampling, notes_per_second=5.0)
    pieces = generate(model, settings, [7, 8, 9])
    stepper = PerformanceStepper(model, settings)
    prime = primer_events(None, model.performance_config)
    state, logits, clock = _run_primer(stepper, prime)
    for piece in pieces:
        tokens, score = beam_search(
            _EventStepper(stepper, np.array([clock])), state, log_softmax(logits),
            prime.tolist(), 20, sampling, piece.seed,
        )  # fmt: skip
        assert piece.events.tolist() == tokens
        # The same tokens; the float32 logits of a 12-row GEMM may round apart from a 4-row
        # one in the last bit, so the summed score is equal to rounding.
        assert piece.log_likelihood == pytest.approx(score, abs=1e-6)
        assert piece.num_generated == 20  # ceil(4 x 5 notes/s x 1 s after the 1-s primer)
