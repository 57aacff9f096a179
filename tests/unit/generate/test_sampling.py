"""The samplers: per-row seeded draws, argmax with loop-breaking, Magenta's beam search."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from musicgen.generate.sampling import (
    LoopDetector,
    SamplingSettings,
    beam_search,
    choose,
    log_softmax,
    rnn_steps_for,
    sample_rows,
)


class MarkovStepper:
    """A real (first-order Markov) model implementing the Stepper protocol; state = last token."""

    def __init__(self, transitions: np.ndarray) -> None:
        self.log_t = np.log(transitions)
        self.calls = 0

    def step(self, tokens: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        return self.log_t[tokens], tokens.copy()

    def select(self, state: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return state[rows]


def test_sampling_follows_the_distribution_and_the_seed() -> None:
    probs = np.array([0.1, 0.6, 0.3])
    log_p = np.log(np.tile(probs, (20000, 1)))
    picks = sample_rows(log_p, [np.random.default_rng(i) for i in range(20000)])
    freq = np.bincount(picks, minlength=3) / len(picks)
    assert np.allclose(freq, probs, atol=0.015)
    again = sample_rows(log_p[:50], [np.random.default_rng(i) for i in range(50)])
    assert np.array_equal(again, picks[:50])  # a row's draw depends on its seed alone


def test_temperature_sharpens_and_flattens() -> None:
    logits = np.array([[1.0, 2.0, 3.0]])
    cold, hot = np.exp(log_softmax(logits, 0.1)), np.exp(log_softmax(logits, 100.0))
    assert cold[0, 2] > 0.99
    assert np.allclose(hot, 1 / 3, atol=0.01)
    with pytest.raises(ValueError, match="temperature"):
        SamplingSettings(temperature=0)


def test_loop_detector_and_loop_breaking() -> None:
    loop = LoopDetector(3, [1, 2, 3, 4])
    assert not loop.looping
    for token in (1, 2, 3):
        loop.push(token)
    assert loop.looping  # 1 2 3 occurred before
    settings = SamplingSettings(argmax=True, loop_window=3)
    log_p = np.log(np.array([[0.05, 0.9, 0.05]] * 200))
    fresh = [LoopDetector(3, [0, 1, 2]) for _ in range(200)]
    rngs = [np.random.default_rng(i) for i in range(200)]
    assert set(choose(log_p, settings, rngs, fresh)) == {1}
    stuck = [LoopDetector(3, [1, 1, 1, 1]) for _ in range(200)]
    broken = choose(log_p, settings, [np.random.default_rng(i) for i in range(200)], stuck)
    assert {0, 2} & set(broken.tolist())  # sampled instead of the argmax


def test_beam_search_takes_magentas_number_of_steps_and_finds_likelier_sequences() -> None:
    rng = np.random.default_rng(0)
    transitions = rng.dirichlet(np.full(6, 0.3), size=6)
    stepper = MarkovStepper(transitions)
    logits0, state0 = stepper.step(np.array([0]), np.array([0]))
    plain, beam = [], []
    for seed in range(30):
        tokens, score = beam_search(stepper, state0, logits0, [0], 10, SamplingSettings(), seed)
        assert len(tokens) == 11
        plain.append(score)
        settings = SamplingSettings(beam_size=4, branch_factor=3, steps_per_iteration=3)
        tokens, score = beam_search(stepper, state0, logits0, [0], 10, settings, seed)
        assert len(tokens) == 11  # first iteration (10 - 1) % 3 + 1 = 1 step, then 3 x 3
        expected = sum(np.log(transitions[a, b]) for a, b in itertools.pairwise(tokens))
        assert score == pytest.approx(expected)
        beam.append(score)
    assert np.mean(beam) > np.mean(plain) + 1.0


def test_magentas_request_size() -> None:
    assert rnn_steps_for(30.0) == 4 * 15 * 30
    assert rnn_steps_for(10.0, notes_per_second=0.5) == 40  # density is at least 1
