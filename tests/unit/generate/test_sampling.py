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
    truncate,
    truncate_bernoulli,
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


# Top-k and nucleus truncation, on a fixed distribution and many draws.
PROBS = np.array([0.05, 0.30, 0.02, 0.40, 0.15, 0.08])  # by rank: 3, 1, 4, 5, 0, 2


def _draws(settings: SamplingSettings, n: int = 8000, first_seed: int = 0) -> np.ndarray:
    log_p = np.log(np.tile(PROBS, (n, 1)))
    return choose(log_p, settings, [np.random.default_rng(first_seed + i) for i in range(n)])


def _expected(keep: list[int]) -> np.ndarray:
    out = np.zeros_like(PROBS)
    out[keep] = PROBS[keep] / PROBS[keep].sum()
    return out


def _assert_frequencies(picks: np.ndarray, expected: np.ndarray) -> None:
    freq = np.bincount(picks, minlength=len(expected)) / len(picks)
    # 5 standard errors of a binomial share: a wrong renormalisation is off by far more.
    tolerance = 5 * np.sqrt(expected * (1 - expected) / len(picks)) + 1e-12
    assert np.all(np.abs(freq - expected) <= tolerance), (freq, expected)


@pytest.mark.parametrize(
    ("k", "keep"), [(1, [3]), (2, [3, 1]), (3, [3, 1, 4]), (6, list(range(6)))]
)
def test_top_k_draws_only_the_k_likeliest_at_renormalised_frequencies(k: int, keep: list) -> None:
    picks = _draws(SamplingSettings(top_k=k))
    assert set(picks.tolist()) == set(keep)
    _assert_frequencies(picks, _expected(keep))


@pytest.mark.parametrize(
    ("p", "keep"),
    [
        (0.40, [3]),  # the likeliest alone reaches 0.4
        (0.41, [3, 1]),
        (0.70, [3, 1]),  # 0.4 + 0.3 = 0.7 exactly: the smallest set with mass >= p
        (0.71, [3, 1, 4]),
        (0.90, [3, 1, 4, 5]),
        (0.99, [3, 1, 4, 5, 0, 2]),
    ],
)
def test_nucleus_keeps_the_smallest_set_with_mass_at_least_p(p: float, keep: list) -> None:
    picks = _draws(SamplingSettings(top_p=p))
    assert set(picks.tolist()) == set(keep)
    _assert_frequencies(picks, _expected(keep))


def test_top_k_then_nucleus_and_temperature_compose() -> None:
    # top-k 3 leaves 0.40/0.30/0.15 -> 0.47/0.35/0.18; a nucleus of 0.8 then keeps two.
    picks = _draws(SamplingSettings(top_k=3, top_p=0.8))
    assert set(picks.tolist()) == {3, 1}
    _assert_frequencies(picks, _expected([3, 1]))
    hot = np.exp(log_softmax(np.log(PROBS)[None], 2.0))[0]  # the temperature comes first
    picks = _draws(SamplingSettings(temperature=2.0, top_k=2))
    expected = np.zeros(6)
    expected[[3, 1]] = hot[[3, 1]] / hot[[3, 1]].sum()
    _assert_frequencies(picks, expected)


def test_truncated_draws_depend_on_the_seed_only() -> None:
    settings = SamplingSettings(top_k=4, top_p=0.9)
    many, few = _draws(settings, 300), _draws(settings, 20, first_seed=100)
    assert np.array_equal(many[100:120], few)
    assert np.array_equal(_draws(settings, 300), many)


def test_ties_at_the_threshold_are_kept_and_rows_are_independent() -> None:
    log_p = np.log(np.array([[0.3, 0.3, 0.3, 0.1], [0.7, 0.1, 0.1, 0.1]]))
    kept = np.isfinite(truncate(log_p, top_k=1))
    assert kept.tolist() == [[True, True, True, False], [True, False, False, False]]
    assert np.allclose(np.exp(truncate(log_p, top_p=0.5)).sum(axis=-1), 1.0)
    with pytest.raises(ValueError, match="top_k"):
        SamplingSettings(top_k=-1)
    with pytest.raises(ValueError, match="top_p"):
        SamplingSettings(top_p=0.0)


def test_argmax_loop_breaking_samples_within_the_nucleus() -> None:
    settings = SamplingSettings(argmax=True, loop_window=3, top_k=2)
    stuck = [LoopDetector(3, [1, 1, 1, 1]) for _ in range(500)]
    rngs = [np.random.default_rng(i) for i in range(500)]
    picks = choose(np.log(np.tile(PROBS, (500, 1))), settings, rngs, stuck)
    assert set(picks.tolist()) == {3, 1}


def test_truncate_bernoulli_keys() -> None:
    probs = np.array([[0.95, 0.6, 0.5, 0.3, 0.04, 0.7]])
    top2 = truncate_bernoulli(probs, top_k=2)
    assert top2.tolist() == [[0.95, 0.0, 0.0, 0.0, 0.0, 0.7]]
    nucleus = truncate_bernoulli(probs, top_p=0.9)  # each key's own on/off draw
    assert nucleus.tolist() == [[1.0, 0.6, 0.5, 0.3, 0.0, 0.7]]
    assert truncate_bernoulli(probs, top_p=0.5).tolist() == [[1.0, 1.0, 0.5, 0.0, 0.0, 1.0]]
    assert np.array_equal(truncate_bernoulli(probs), probs)
