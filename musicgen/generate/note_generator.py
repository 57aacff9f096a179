"""PerformanceRNN generation for the note encoding (Magenta's
``performance_with_dynamics_and_note_encoding``).

One RNN step is one note: a (TIME_SHIFT, NOTE_ON, VELOCITY, DURATION) tuple written as 6 class
indices (shift major/minor, pitch, velocity bin, duration major/minor). Magenta's semantics
(``events_rnn_graph`` / ``encoder_decoder``): each of the 6 softmaxes is tempered and sampled
on its own, the log-likelihood of a note is the sum of its 6 log-probabilities, and a piece is
long enough once its last note's start plus duration reaches the requested steps
(``NotePerformance.num_steps``). Decoding is ``NotePerformance.to_sequence``.

Where Magenta differs from itself, a choice is made and said here:

* Empty primer. Magenta's ``NotePerformance.set_length`` is a no-op, so its generator hands an
  empty performance to the RNN and fails. We feed the encoder's default event
  (``default_event_label``: shift 0, pitch 60, velocity bin 1, duration 1) as a start token
  and do not keep it: the piece is the generated notes only.
* Beam search is not offered for this encoding (Magenta's beam code scores the 6 heads, but its
  generator cannot start); the batch driver rejects it before any actor starts.

Each row draws its 6 uniforms per step from its own generator, in head order, so a piece
depends only on its seed, whatever the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from musicgen.encodings import performance as perf
from musicgen.encodings.performance_configs import (
    NOTE_NUM_CLASSES,
    STEPS_PER_SECOND,
    PerformanceConfig,
)
from musicgen.errors import ConfigError
from musicgen.generate.sampling import IntArray, choose, log_softmax, rnn_steps_for

if TYPE_CHECKING:
    from musicgen.generate.performance_generator import (
        Generated,
        PerformanceSettings,
        PerformanceStepper,
    )

# note_seq's NotePerformanceEventSequenceEncoderDecoder.default_event_label, as a note tuple.
START_NOTE = np.array([[0, 60, 1, 1]], np.int64)
_OFFSETS = np.cumsum((0, *NOTE_NUM_CLASSES)).tolist()


def unsupported(settings: PerformanceSettings) -> list[str]:
    """The settings this encoding cannot honour, as messages (empty: all fine)."""
    sampling = settings.sampling
    if sampling.uses_beam:
        return [
            f"beam search (beam_size={sampling.beam_size}, branch_factor="
            f"{sampling.branch_factor}, steps_per_iteration={sampling.steps_per_iteration}) is "
            "not available for the note encoding; use plain sampling (all three = 1)"
        ]
    return []


def primer_notes(primer: Any, config: PerformanceConfig) -> IntArray:
    """A primer NoteSequence as note tuples ``(n, 4)``, quantized at 100 steps/s."""
    from note_seq import sequences_lib

    if primer is None or not len(primer.notes):
        return np.zeros((0, 4), np.int64)
    quantized = sequences_lib.quantize_note_sequence_absolute(primer, STEPS_PER_SECOND)
    try:
        return perf.note_performance_tuples(quantized, config.num_velocity_bins)
    except (perf.TooManyTimeShiftStepsError, perf.TooManyDurationStepsError) as exc:
        raise ConfigError(f"primer cannot be written in the note encoding: {exc}") from exc


def note_length(notes: IntArray) -> int:
    """``NotePerformance.num_steps``: the shifts, plus the last note's duration."""
    if not len(notes):
        return 0
    return int(notes[:, 0].sum() + notes[-1, 3])


def generate_notes(
    stepper: PerformanceStepper,
    settings: PerformanceSettings,
    seeds: Sequence[int],
    primer: Any = None,
    max_events: int | None = None,
) -> list[Generated]:
    """One piece per seed, all rows advancing together (see the module docstring)."""
    from musicgen.generate.performance_generator import Generated

    problems = unsupported(settings)
    if problems:
        raise ConfigError("; ".join(problems))
    config = stepper.config
    prime = primer_notes(primer, config)
    fed = prime if len(prime) else START_NOTE
    state = stepper.zero_state(1)
    logits = np.zeros((1, sum(NOTE_NUM_CLASSES)))
    for row in fed:
        rows = stepper.input_rows(row[None, :], np.zeros(1, np.int64))
        logits, state = stepper.raw_step(rows, state)
    n = len(seeds)
    state = stepper.select(state, np.zeros(n, np.int64))
    logits = np.repeat(logits, n, axis=0)
    rngs = [np.random.default_rng(s) for s in seeds]
    total = settings.num_steps
    start_clock = int(prime[:, 0].sum()) if len(prime) else 0
    clocks = np.full(n, start_clock, np.int64)
    lengths = np.full(n, note_length(prime), np.int64)
    notes: list[list[IntArray]] = [[] for _ in range(n)]
    scores = np.zeros(n)
    density = settings.notes_per_second
    limit = max_events or 2 * rnn_steps_for(
        max(total - note_length(prime), 1) / STEPS_PER_SECOND,
        None if density is None else float(max(np.atleast_1d(density))),
    )
    for _ in range(limit):
        live = lengths < total
        if not live.any():
            break
        labels = np.zeros((n, len(NOTE_NUM_CLASSES)), np.int64)
        for k in range(len(NOTE_NUM_CLASSES)):
            head = logits[:, _OFFSETS[k] : _OFFSETS[k + 1]]
            labels[:, k] = choose(head, settings.sampling, rngs)
            tempered = log_softmax(head, settings.sampling.temperature)
            scores += np.where(live, tempered[np.arange(n), labels[:, k]], 0.0)
        picked = perf.note_labels_to_tuples(labels)
        for row in np.flatnonzero(live).tolist():
            notes[row].append(picked[row])
        clocks = clocks + np.where(live, picked[:, 0], 0)
        lengths = np.where(live, clocks + picked[:, 3], lengths)
        logits, state = stepper.raw_step(stepper.input_rows(picked, clocks), state)
    out = []
    for seed, piece, score in zip(seeds, notes, scores.tolist(), strict=True):
        generated = np.array(piece, np.int64).reshape(-1, 4)
        events = np.concatenate([prime, generated])
        out.append(Generated(seed, events, score, len(generated), config, settings))
    return out
