"""Magenta's beam search for many pieces at once: every row of every piece advances together.

:func:`~musicgen.generate.sampling.beam_search` runs one piece (``beam_size x branch_factor``
rows) at a time and copies each kept row's token list at every pruning, which is quadratic in
the length. Here ``P`` pieces share one batch of ``P x beam x branch`` rows, so each step is
one model call for all of them; each piece prunes to its own best ``beam_size`` rows. Tokens are
not copied: each iteration keeps its picks ``[rows, steps]`` and every row's parent, and the
winners are read back by following the parents once at the end.

Each piece draws from generators seeded from its own seed exactly as ``beam_search`` draws
them, so a piece's result equals ``beam_search`` for that seed alone (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from musicgen.generate.sampling import (
    FloatArray,
    IntArray,
    LoopDetector,
    SamplingSettings,
    Stepper,
    choose,
    log_softmax,
)


def beam_search_batch(
    stepper: Stepper,
    state: Any,
    log_probs: FloatArray,
    primer: Sequence[int],
    num_steps: int,
    settings: SamplingSettings,
    seeds: Sequence[int],
) -> list[tuple[list[int], float]]:
    """``beam_search`` for each seed, all pieces in one batch; ``(tokens, score)`` per seed.

    ``state``/``log_probs`` are one row (after the primer), shared by every piece.
    """
    pieces, k, branch = len(seeds), settings.beam_size, settings.branch_factor
    piece_rngs = [np.random.default_rng(seed) for seed in seeds]
    rows = np.zeros(pieces * k, np.int64)
    search = _Search(
        stepper,
        settings,
        state=stepper.select(state, rows),
        log_probs=np.repeat(log_probs[:1], len(rows), axis=0),
        rngs=_row_rngs(piece_rngs, k),
        loops=[LoopDetector(settings.loop_window, primer) for _ in rows]
        if settings.argmax
        else None,
    )
    first = (num_steps - 1) % settings.steps_per_iteration + 1
    search.run(first, parents=None)
    for _ in range((num_steps - first) // settings.steps_per_iteration):
        per_piece = search.scores.reshape(pieces, -1)
        best = np.argsort(-per_piece, axis=1, kind="stable")[:, :k]
        kept = best + (np.arange(pieces) * per_piece.shape[1])[:, None]
        parents = np.repeat(kept, branch, axis=1).ravel()
        search.branch(parents, _row_rngs(piece_rngs, k * branch))
        search.run(settings.steps_per_iteration, parents=parents)
    per_piece = search.scores.reshape(pieces, -1)
    winners = np.argmax(per_piece, axis=1) + np.arange(pieces) * per_piece.shape[1]
    return [
        (list(primer) + search.tokens_of(int(row)), float(search.scores[row]))
        for row in winners.tolist()
    ]


def _row_rngs(piece_rngs: Sequence[np.random.Generator], per_piece: int) -> list[Any]:
    """Each piece's next ``per_piece`` row generators, drawn from its own generator in order."""
    return [
        np.random.default_rng(rng.integers(2**63)) for rng in piece_rngs for _ in range(per_piece)
    ]


class _Search:
    """The rows' scores, state, generators and loop detectors, and the picks of each iteration
    with the rows they extended (``parents``)."""

    def __init__(
        self,
        stepper: Stepper,
        settings: SamplingSettings,
        state: Any,
        log_probs: FloatArray,
        rngs: list[Any],
        loops: list[LoopDetector] | None,
    ) -> None:
        self.stepper = stepper
        self.settings = settings
        self.state = state
        self.log_probs = log_probs
        self.rngs = rngs
        self.loops = loops
        self.scores = np.zeros(len(log_probs))
        self.iterations: list[tuple[IntArray | None, IntArray]] = []

    def branch(self, parents: IntArray, rngs: list[Any]) -> None:
        """Keeps ``parents`` (with repeats), each with a fresh generator."""
        self.scores = self.scores[parents]
        self.log_probs = self.log_probs[parents]
        self.state = self.stepper.select(self.state, parents)
        self.rngs = rngs
        if self.loops is not None:  # argmax only: a detector's history is the row's own
            self.loops = [self.loops[row].copy() for row in parents.tolist()]

    def run(self, steps: int, parents: IntArray | None) -> None:
        """``steps`` steps on every row; records the picks and the rows they extend."""
        picks_per_step = []
        every_row = np.arange(len(self.scores))
        for _ in range(steps):
            tempered = log_softmax(self.log_probs, self.settings.temperature)
            picks = choose(self.log_probs, self.settings, self.rngs, self.loops)
            self.scores = self.scores + tempered[every_row, picks]
            if self.loops is not None:
                for row, token in enumerate(picks.tolist()):
                    self.loops[row].push(token)
            picks_per_step.append(picks)
            self.log_probs, self.state = self.stepper.step(picks, self.state)
        self.iterations.append((parents, np.stack(picks_per_step, axis=1)))

    def tokens_of(self, row: int) -> list[int]:
        """The tokens row ``row`` generated, following its parents back to the start."""
        parts = []
        for parents, picks in reversed(self.iterations):
            parts.append(picks[row])
            if parents is not None:
                row = int(parents[row])
        return np.concatenate(parts[::-1]).tolist() if parts else []
