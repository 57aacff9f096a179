"""Batched samplers over a model's step function: temperature sampling, Magenta's beam search,
argmax with loop-breaking. Pure numpy; the model side is a :class:`Stepper`.

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
    """

    temperature: float = 1.0
    beam_size: int = 1
    branch_factor: int = 1
    steps_per_iteration: int = 1
    argmax: bool = False
    loop_window: int = 8

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
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
    """The next token of every row: sampled at the temperature, or argmax with loop-breaking."""
    tempered = log_softmax(log_probs, settings.temperature)
    if not settings.argmax:
        return sample_rows(tempered, rngs)
    picks = tempered.argmax(axis=-1).astype(np.int64)
    for row, detector in enumerate(loops or ()):
        if detector.looping:
            picks[row] = sample_rows(tempered[row : row + 1], [rngs[row]])[0]
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
