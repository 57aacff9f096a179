"""Batched samplers over a model's step function: temperature sampling with optional top-k and
nucleus (top-p) truncation, Magenta's beam search, argmax with loop-breaking. Pure numpy; the
model side is a :class:`Stepper`.

Truncation keeps the tokens whose probability (after the temperature) is at least a threshold:
the k-th largest probability (top-k), then, on what is left renormalised, the smallest
probability of the smallest set of tokens whose mass reaches p (nucleus, Holtzman et al. 2020).
A token tied with the threshold is kept, so the result never depends on how ties are ordered.
Scores (log-likelihoods, beam ranking) stay those of the tempered model: truncation changes
which tokens may be drawn, not how likely the model found them.

Every row of a batch draws from its own ``numpy.random.Generator`` seeded per sample, so a
sample depends only on its seed and the model, never on which other samples share its batch
(a re-run of half a batch regenerates exactly the missing half).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class SamplingSettings:
    """How tokens are chosen.

    Attributes:
        temperature: Logits are divided by it before the softmax (Magenta: 1.0).
        beam_size: Magenta's beam: sequences kept after each iteration (1 = no beam).
        branch_factor: Copies of each kept sequence extended per iteration.
        steps_per_iteration: Steps between prunings.
        argmax: Take the most likely token instead of sampling...
        loop_window: ...except when the last ``loop_window`` tokens repeat an earlier run
            (loop-breaking): then sample. 0 disables the check.
        top_k: Sample only among the ``top_k`` most likely tokens (0: all).
        top_p: Sample only from the nucleus, the smallest set of tokens with mass >= ``top_p``
            (1.0: all).
    """

    temperature: float = 1.0
    beam_size: int = 1
    branch_factor: int = 1
    steps_per_iteration: int = 1
    argmax: bool = False
    loop_window: int = 8
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        check_truncation(self.top_k, self.top_p)
        for name in ("beam_size", "branch_factor", "steps_per_iteration"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.loop_window < 0:
            raise ValueError(f"loop_window must be >= 0, got {self.loop_window}")

    @property
    def uses_beam(self) -> bool:
        """Whether Magenta's beam search is on (plain sampling when 1/1/1)."""
        return self.beam_size > 1 or self.branch_factor > 1


class Stepper(Protocol):
    """A model advanced one token at a time for a batch of rows."""

    def step(self, tokens: IntArray, state: Any) -> tuple[FloatArray, Any]:
        """Feeds one token per row; returns next-token log-probabilities ``[B, C]`` (before
        temperature) and the new state."""
        ...

    def select(self, state: Any, rows: IntArray) -> Any:
        """The state of the given rows, in that order (beam pruning and branching)."""
        ...


def log_softmax(logits: FloatArray, temperature: float = 1.0) -> FloatArray:
    """Row-wise log-softmax of ``logits / temperature`` in float64."""
    z = np.asarray(logits, np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def check_truncation(top_k: int, top_p: float) -> None:
    """Validates top-k/top-p settings.

    Raises:
        ValueError: If ``top_k`` < 0 or ``top_p`` is not in (0, 1].
    """
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0 (0: off), got {top_k}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] (1: off), got {top_p}")


def truncate(log_probs: FloatArray, top_k: int = 0, top_p: float = 1.0) -> FloatArray:
    """Row-wise top-k then nucleus truncation of normalised log-probabilities.

    Args:
        log_probs: ``[B, C]`` log-probabilities (e.g. :func:`log_softmax` at the temperature).
        top_k: Keep the ``top_k`` likeliest tokens (and any tied with the last); 0: all.
        top_p: Keep the smallest set of likeliest tokens whose mass reaches ``top_p`` (and any
            tied with its least likely); 1.0: all.

    Returns:
        ``[B, C]`` log-probabilities renormalised over the kept tokens, ``-inf`` elsewhere.
    """
    out = np.asarray(log_probs, np.float64)
    if top_k and top_k < out.shape[-1]:
        kth = -np.partition(-out, top_k - 1, axis=-1)[..., top_k - 1 : top_k]
        out = np.where(out >= kth, out, -np.inf)
        out = out - np.logaddexp.reduce(out, axis=-1, keepdims=True)
    if top_p < 1.0:
        probs = np.exp(out)
        ordered = -np.sort(-probs, axis=-1)
        before = np.cumsum(ordered, axis=-1) - ordered  # mass of the likelier tokens
        # The tolerance keeps a set whose mass is p up to rounding (0.5 + 0.3 vs 0.8) exact.
        size = np.maximum((before < top_p - 1e-9).sum(axis=-1, keepdims=True), 1)
        least = np.take_along_axis(ordered, size - 1, axis=-1)
        out = np.where(probs >= least, out, -np.inf)
        out = out - np.logaddexp.reduce(out, axis=-1, keepdims=True)
    return out


def truncate_bernoulli(probs: FloatArray, top_k: int = 0, top_p: float = 1.0) -> FloatArray:
    """Top-k and nucleus truncation of a frame of independent keys (``[B, P]`` probabilities
    that each key sounds), for the piano-roll families.

    Top-k keeps the ``top_k`` keys likeliest to sound and silences the others, so at most k
    sound (keys tied in probability go lowest first: an untrained model's first frame can
    have all 88 tied, and keeping ties would not cap anything). Nucleus truncation applies
    to each key's own two-outcome distribution: the smallest set of outcomes with mass >= p is
    the likelier outcome alone when its probability reaches p, so a key at least ``top_p``
    likely always sounds, one at most ``1 - top_p`` likely never does, and the rest are drawn.

    Returns:
        The truncated probabilities.
    """
    out = np.asarray(probs, np.float64)
    if top_k and top_k < out.shape[-1]:
        order = np.argsort(-out, axis=-1, kind="stable")
        keep = np.zeros(out.shape, bool)
        np.put_along_axis(keep, order[..., :top_k], True, axis=-1)
        out = np.where(keep, out, 0.0)
    if top_p < 1.0:
        out = np.where((out > 0.5) & (out >= top_p), 1.0, out)
        out = np.where((out < 0.5) & (1.0 - out >= top_p), 0.0, out)
    return out


def sample_rows(log_probs: FloatArray, rngs: Sequence[np.random.Generator]) -> IntArray:
    """One class per row, drawn with that row's generator (inverse CDF, one uniform each)."""
    probs = np.exp(log_probs)
    cdf = np.cumsum(probs, axis=-1)
    u = np.array([rng.random() for rng in rngs]) * cdf[:, -1]
    picks = (cdf < u[:, None]).sum(axis=-1)
    return np.minimum(picks, log_probs.shape[-1] - 1).astype(np.int64)


class LoopDetector:
    """Remembers every run of ``window`` tokens of one row, to spot a loop in O(1) per step.

    The run that ends at the newest token is checked against the runs that ended earlier.
    """

    def __init__(self, window: int, history: Sequence[int] = ()) -> None:
        self.window = window
        self.history: list[int] = []
        self.seen: set[tuple[int, ...]] = set()
        self._last: tuple[int, ...] | None = None
        for token in history:
            self.push(token)

    def push(self, token: int) -> None:
        """Appends one token."""
        if self._last is not None:
            self.seen.add(self._last)
        self.history.append(int(token))
        if self.window and len(self.history) >= self.window:
            self._last = tuple(self.history[-self.window :])

    def copy(self) -> LoopDetector:
        """A detector with the same history (its sets copied, not rebuilt token by token)."""
        twin = LoopDetector(self.window)
        twin.history = list(self.history)
        twin.seen = set(self.seen)
        twin._last = self._last
        return twin

    @property
    def looping(self) -> bool:
        """Whether the newest ``window`` tokens already occurred as a run earlier."""
        return self.window > 0 and self._last is not None and self._last in self.seen


def choose(
    log_probs: FloatArray,
    settings: SamplingSettings,
    rngs: Sequence[np.random.Generator],
    loops: Sequence[LoopDetector] | None = None,
) -> IntArray:
    """The next token of every row: sampled at the temperature (within top-k/top-p), or argmax
    with loop-breaking (which samples the same way)."""
    tempered = log_softmax(log_probs, settings.temperature)
    allowed = truncate(tempered, settings.top_k, settings.top_p)
    if not settings.argmax:
        return sample_rows(allowed, rngs)
    picks = tempered.argmax(axis=-1).astype(np.int64)
    for row, detector in enumerate(loops or ()):
        if detector.looping:
            picks[row] = sample_rows(allowed[row : row + 1], [rngs[row]])[0]
    return picks


@dataclass
class Beam:
    """The rows of one batch: tokens so far, cumulative log-likelihood, generator per row."""

    tokens: list[list[int]]
    scores: FloatArray
    rngs: list[np.random.Generator]
    state: Any
    loops: list[LoopDetector] | None = None


def extend(
    stepper: Stepper,
    beam: Beam,
    log_probs: FloatArray,
    settings: SamplingSettings,
    num_steps: int,
    active: Callable[[Beam], NDArray[np.bool_]] | None = None,
) -> tuple[Beam, FloatArray]:
    """Runs ``num_steps`` steps on every row (rows not ``active`` keep their tokens).

    Returns the beam and the log-probabilities for the step after the last one.
    """
    for _ in range(num_steps):
        live = active(beam) if active else np.ones(len(beam.tokens), bool)
        if not live.any():
            break
        tempered = log_softmax(log_probs, settings.temperature)
        picks = choose(log_probs, settings, beam.rngs, beam.loops)
        chosen = tempered[np.arange(len(picks)), picks]
        beam.scores = beam.scores + np.where(live, chosen, 0.0)
        for row in np.flatnonzero(live).tolist():
            beam.tokens[row].append(int(picks[row]))
            if beam.loops is not None:
                beam.loops[row].push(int(picks[row]))
        log_probs, beam.state = stepper.step(picks, beam.state)
    return beam, log_probs


def beam_search(
    stepper: Stepper,
    state: Any,
    log_probs: FloatArray,
    primer: Sequence[int],
    num_steps: int,
    settings: SamplingSettings,
    seed: int,
) -> tuple[list[int], float]:
    """Magenta's ``beam_search`` for one piece (``magenta/common/beam_search.py``).

    ``state``/``log_probs`` are one row (after the primer). The beam starts as ``beam_size``
    copies; a first iteration of ``(num_steps - 1) % steps_per_iteration + 1`` steps, then each
    iteration keeps the ``beam_size`` best by cumulative log-likelihood (of the tempered
    softmax, as Magenta scores) and extends ``branch_factor`` copies of each by
    ``steps_per_iteration`` steps; the best sequence is returned with its score.
    """
    k = settings.beam_size
    rng = np.random.default_rng(seed)
    rows = np.zeros(k, np.int64)
    beam = Beam(
        tokens=[list(primer) for _ in range(k)],
        scores=np.zeros(k),
        rngs=[np.random.default_rng(rng.integers(2**63)) for _ in range(k)],
        state=stepper.select(state, rows),
        loops=_detectors(settings, [primer] * k),
    )
    log_probs = np.repeat(log_probs[:1], k, axis=0)
    first = (num_steps - 1) % settings.steps_per_iteration + 1
    beam, log_probs = extend(stepper, beam, log_probs, settings, first)
    for _ in range((num_steps - first) // settings.steps_per_iteration):
        best = np.argsort(-beam.scores, kind="stable")[:k]
        branch = np.repeat(best, settings.branch_factor)
        tokens = [list(beam.tokens[i]) for i in branch.tolist()]
        beam = Beam(
            tokens=tokens,
            scores=beam.scores[branch],
            rngs=[np.random.default_rng(rng.integers(2**63)) for _ in branch],
            state=stepper.select(beam.state, branch),
            loops=_detectors(settings, tokens),
        )
        log_probs = log_probs[branch]
        beam, log_probs = extend(stepper, beam, log_probs, settings, settings.steps_per_iteration)
    best_row = int(np.argmax(beam.scores))
    return beam.tokens[best_row], float(beam.scores[best_row])


def _detectors(
    settings: SamplingSettings, histories: Sequence[Sequence[int]]
) -> list[LoopDetector] | None:
    if not settings.argmax:
        return None
    return [LoopDetector(settings.loop_window, h) for h in histories]


def rnn_steps_for(seconds_left: float, notes_per_second: float | None = None) -> int:
    """Magenta's request size: ceil(4 * density * seconds), density = max(1, nps or 15)."""
    density = max(1.0, notes_per_second if notes_per_second is not None else 15.0)
    return max(1, math.ceil(4 * density * seconds_left))
