"""PerformanceRNN generation, batched: many sequences advance together through one compiled step.

Magenta's semantics (``performance_sequence_generator``, ``events_rnn_model``): the primer is
quantized at 100 steps/s and extracted like training data, then padded with TIME_SHIFTs to its
end (an empty primer is one TIME_SHIFT(100): unprimed output starts with 1 s of silence); the
input row of event k carries the control for position k + 1, computed from the clock after
event k; user control values may be lists mapped piecewise over the total steps; decoding pairs
NOTE_OFFs FIFO, caps notes at 5 s and sets the length to exactly ``num_steps``.

The step runs the trained LSTM cells directly (``layer.cell``), so there is no second copy of
the weights, and a batch of B rows costs one matmul per layer per step.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from musicgen.encodings import performance as perf
from musicgen.encodings.performance_configs import (
    STEPS_PER_SECOND,
    Control,
    Encoding,
    PerformanceConfig,
)
from musicgen.encodings.performance_controls import density_one_hot, histogram_inputs
from musicgen.errors import ConfigError
from musicgen.generate.beam_batch import beam_search_batch
from musicgen.generate.compiled_cache import generation_cache
from musicgen.generate.sampling import (
    Beam,
    FloatArray,
    IntArray,
    LoopDetector,
    SamplingSettings,
    choose,
    log_softmax,
    rnn_steps_for,
)

NO_EVENT = perf.TIME_SHIFT_OFFSET + 100  # TIME_SHIFT(100), Magenta's empty primer
MAX_NOTE_DURATION_SECONDS = 5.0


@dataclass(frozen=True)
class PerformanceSettings:
    """What to generate.

    Attributes:
        num_steps: Total length in 10 ms steps, the primer included (Magenta: 3000 = 30 s).
        sampling: Temperature, beam, argmax/loop-breaking.
        notes_per_second: Density control (density-conditioned configs): one value, or a list
            mapped piecewise over the total steps.
        pitch_class_histogram: Pitch control: 12 weights, or a list of such.
        disable_conditioning: Optional-conditioning configs: generate unconditioned.
        max_note_duration: Notes are cut at this many seconds when decoding (Magenta: 5).
    """

    num_steps: int = 3000
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    notes_per_second: float | tuple[float, ...] | None = None
    pitch_class_histogram: tuple[float, ...] | tuple[tuple[float, ...], ...] | None = None
    disable_conditioning: bool = False
    max_note_duration: float = MAX_NOTE_DURATION_SECONDS

    def __post_init__(self) -> None:
        if self.num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {self.num_steps}")


@dataclass
class Generated:
    """One generated performance: its events (primer included), score, and (decoded on first
    use, as Magenta decodes) its NoteSequence."""

    seed: int
    events: IntArray
    log_likelihood: float
    num_generated: int
    config: PerformanceConfig
    settings: PerformanceSettings

    @functools.cached_property
    def sequence(self) -> Any:
        """The note_seq NoteSequence."""
        return decode(self.events, self.config, self.settings)


class ControlSchedule:
    """The control part of each input row, from the user's settings and the clock."""

    def __init__(self, config: PerformanceConfig, settings: PerformanceSettings) -> None:
        self.config = config
        self.settings = settings
        self.size = config.control_size
        density = settings.notes_per_second
        histogram = settings.pitch_class_histogram
        if Control.DENSITY in config.controls and density is None and not self._disabled:
            raise ConfigError(f"{config.name} needs notes_per_second (or disable_conditioning)")
        if Control.PITCH_HISTOGRAM in config.controls and histogram is None and not self._disabled:
            raise ConfigError(
                f"{config.name} needs pitch_class_histogram (or disable_conditioning)"
            )

    @property
    def _disabled(self) -> bool:
        return self.config.optional_conditioning and self.settings.disable_conditioning

    def rows(self, clocks: IntArray) -> FloatArray:
        """``[B, control_size]`` for rows whose clock (steps after the event) is ``clocks``."""
        n = len(clocks)
        out = np.zeros((n, self.size))
        if not self.size:
            return out
        if self._disabled:
            out[:, 0] = 1.0
            return out
        parts = []
        for control in self.config.controls:
            if control is Control.DENSITY:
                values = [self._value(self.settings.notes_per_second, int(c)) for c in clocks]
                parts.append(density_one_hot([float(v) for v in values]))
            else:
                values = [self._value(self.settings.pitch_class_histogram, int(c)) for c in clocks]
                parts.append(histogram_inputs(values))
        if self.config.optional_conditioning:
            parts.insert(0, np.zeros((n, 1)))
        return np.concatenate(parts, axis=1)

    def _value(self, values: Any, step: int) -> Any:
        """Magenta's ``_step_to_value``: a list of values maps evenly over the total steps."""
        if isinstance(values, int | float):
            return values
        seq = list(values)
        if (
            seq
            and isinstance(seq[0], int | float)
            and values is self.settings.pitch_class_histogram
        ):
            return seq  # a single 12-bin histogram, not a list of them
        return seq[min(step * len(seq) // self.settings.num_steps, len(seq) - 1)]


class PerformanceStepper:
    """A trained PerformanceRNN advanced one event at a time for a batch (see module doc)."""

    def __init__(self, model: Any, settings: PerformanceSettings) -> None:
        import tensorflow as tf

        self.model = model
        self.config: PerformanceConfig = model.performance_config
        self.controls = ControlSchedule(self.config, settings)
        self.embedding = model.input_mode == "embedding"
        self.cells = [layer.cell for layer in model.layers if layer.name.startswith("lstm_")]
        self.dense = model.get_layer("logits")
        self.input_layer = (
            model.get_layer("embedding")
            if self.embedding
            else _optional_layer(model, "index_one_hot")
        )
        self.sizes = [cell.units for cell in self.cells]
        # One compiled step per model, kept across calls: generating piece after piece must
        # not pay for tracing each time.
        cache = generation_cache(model)
        step = cache.get("step")
        if step is None:
            step = cache["step"] = tf.function(self._step_graph, reduce_retracing=True)
        self._step = step
        self._gathered: Any = None  # event_step's compiled step and weights, on first use

    def zero_state(self, batch: int) -> list[np.ndarray]:
        """Zero (h, c) for every layer."""
        return [np.zeros((batch, size), np.float32) for size in self.sizes for _ in range(2)]

    def _step_graph(self, x: Any, state: list[Any]) -> tuple[Any, list[Any]]:
        if self.input_layer is not None:
            x = self.input_layer(x)
        new_state = []
        for i, cell in enumerate(self.cells):
            x, (h, c) = cell(x, [state[2 * i], state[2 * i + 1]], training=False)
            new_state += [h, c]
        return self.dense(x), new_state

    def input_rows(self, events: IntArray, clocks: IntArray) -> np.ndarray:
        """The model input of each row's newest event, with the control for the next one."""
        if self.embedding:
            return events.astype(np.int32)
        event_part = perf.event_inputs(events, self.config)
        rows = np.concatenate([self.controls.rows(clocks), event_part], axis=1)
        return rows.astype(np.float32)

    def raw_step(
        self, rows: np.ndarray, state: list[np.ndarray]
    ) -> tuple[FloatArray, list[np.ndarray]]:
        """One step on prepared input rows; logits ``[B, C]`` as float64."""
        logits, new_state = self._step(rows, state)
        return np.asarray(logits, np.float64), [np.asarray(s) for s in new_state]

    def event_step(
        self, events: IntArray, clocks: IntArray, state: list[np.ndarray]
    ) -> tuple[FloatArray, list[np.ndarray]]:
        """One step on each row's newest event (with the control for its clock): the gathered
        cells (:mod:`~musicgen.generate.performance_cells`) where they apply, else
        :meth:`raw_step` on the built input rows. Logits ``[B, C]`` as float64."""
        import tensorflow as tf

        from musicgen.generate.performance_cells import GatheredCells, step_cells

        if self._gathered is None:
            controls = self.controls.rows(np.zeros(1, np.int64))
            cells = step_cells(self, controls.shape[1])
            if not isinstance(cells, GatheredCells):
                self._gathered = False
            else:
                cache = generation_cache(self.model)
                if "event_step" not in cache:
                    cache["event_step"] = tf.function(cells.__call__, reduce_retracing=True)
                # The weights as they are now, once per generation (not once per step).
                self._gathered = (cache["event_step"], cells.packed())
        if self._gathered is False:
            return self.raw_step(self.input_rows(events, clocks), state)
        step, packed = self._gathered
        rows = self.controls.rows(clocks).astype(np.float32)
        logits, new_state = step(rows, events.astype(np.int32), state, packed)
        return np.asarray(logits, np.float64), [np.asarray(s) for s in new_state]

    def select(self, state: list[np.ndarray], rows: IntArray) -> list[np.ndarray]:
        """The state of ``rows``, in that order."""
        return [s[rows] for s in state]


def _optional_layer(model: Any, name: str) -> Any:
    try:
        return model.get_layer(name)
    except ValueError:
        return None


class _EventStepper:
    """Adapts :class:`PerformanceStepper` to the sampler's ``step(tokens, state)``: it tracks
    each row's clock, so the control rows follow the time."""

    def __init__(self, inner: PerformanceStepper, clocks: IntArray) -> None:
        self.inner = inner
        self.clocks = clocks

    def step(
        self, tokens: IntArray, state: list[np.ndarray]
    ) -> tuple[FloatArray, list[np.ndarray]]:
        self.clocks = self.clocks + shift_steps(tokens)
        return self.inner.event_step(tokens, self.clocks, state)

    def select(self, state: list[np.ndarray], rows: IntArray) -> list[np.ndarray]:
        self.clocks = self.clocks[rows]
        return self.inner.select(state, rows)


def shift_steps(ids: IntArray) -> IntArray:
    """TIME_SHIFT steps of each id (0 for other events)."""
    ids = np.asarray(ids, np.int64)
    shift = ids - perf.TIME_SHIFT_OFFSET
    return np.where((ids > perf.TIME_SHIFT_OFFSET) & (ids <= perf.VELOCITY_OFFSET), shift, 0)


def primer_events(primer: Any, config: PerformanceConfig) -> IntArray:
    """A primer NoteSequence as the model's events, as Magenta's generator builds them.

    Quantized at 100 steps/s; more than one program gives an empty performance; padded or
    trimmed with TIME_SHIFTs to the primer's end; empty becomes ``[TIME_SHIFT(100)]``.
    """
    from note_seq import performance_lib, sequences_lib

    if config.note_performance:
        raise ConfigError(f"{config.name}: a note-encoding primer is note_generator.primer_notes")
    if primer is None or not len(primer.notes):
        return np.array([NO_EVENT], np.int64)
    quantized = sequences_lib.quantize_note_sequence_absolute(primer, STEPS_PER_SECOND)
    end_step = quantized.total_quantized_steps  # the generate section starts at its end
    if len({n.program for n in quantized.notes}) > 1:
        performance = performance_lib.Performance(
            steps_per_second=STEPS_PER_SECOND, num_velocity_bins=config.num_velocity_bins
        )
    else:
        performance = performance_lib.Performance(
            quantized, num_velocity_bins=config.num_velocity_bins
        )
    performance.set_length(end_step)
    ids = perf.performance_to_ids(performance)
    return ids if len(ids) else np.array([NO_EVENT], np.int64)


def decode(events: IntArray, config: PerformanceConfig, settings: PerformanceSettings) -> Any:
    """Events back to a NoteSequence exactly as Magenta's generator does."""
    if config.note_performance:  # NotePerformance.to_sequence: no length, no duration cap
        return perf.decode_note_tuples(events, config.num_velocity_bins)
    performance = perf.ids_to_performance(events, config.num_velocity_bins)
    performance.set_length(settings.num_steps)
    return performance.to_sequence(max_note_duration=settings.max_note_duration)


def generate(
    model: Any,
    settings: PerformanceSettings,
    seeds: Sequence[int],
    primer: Any = None,
    max_events: int | None = None,
) -> list[Generated]:
    """One performance per seed, all rows advancing together; each row depends on its seed only.

    Plain sampling (beam 1/1/1) runs until every row's clock reaches ``num_steps``; beam search
    runs Magenta's single request of ``ceil(4 * density * seconds)`` steps per piece.
    """
    config: PerformanceConfig = model.performance_config
    if config.encoding is Encoding.NOTE:  # one RNN step per note: its own sampling loop
        from musicgen.generate.note_generator import generate_notes

        return generate_notes(
            PerformanceStepper(model, settings), settings, seeds, primer, max_events
        )
    stepper = PerformanceStepper(model, settings)
    prime = primer_events(primer, config)
    state, logits, clock = _run_primer(stepper, prime)
    total = settings.num_steps
    limit = (
        max_events
        or rnn_steps_for(max(total - clock, 1) / STEPS_PER_SECOND, _density(settings)) * 2
    )
    if settings.sampling.uses_beam:  # all pieces' beams advance together
        steps = rnn_steps_for((total - clock) / STEPS_PER_SECOND, _density(settings))
        found = beam_search_batch(
            _EventStepper(stepper, np.array([clock])),
            state,
            log_softmax(logits),
            prime.tolist(),
            steps,
            settings.sampling,
            seeds,
        )
        return [
            Generated(seed, np.array(tokens, np.int64), score, len(tokens) - len(prime), config,
                      settings)
            for seed, (tokens, score) in zip(seeds, found, strict=True)
        ]  # fmt: skip
    if settings.sampling.argmax:
        return _sample_batch(stepper, settings, seeds, prime, state, logits, clock, limit)
    from musicgen.generate.fused_sampling import sample_fused

    return sample_fused(stepper, settings, seeds, prime, state, logits, clock, limit)


def _density(settings: PerformanceSettings) -> float | None:
    nps = settings.notes_per_second
    if nps is None:
        return None
    return float(max(nps)) if isinstance(nps, tuple) else float(nps)


def _run_primer(
    stepper: PerformanceStepper, prime: IntArray
) -> tuple[list[np.ndarray], FloatArray, int]:
    """Feeds the primer from the zero state (one row); the logits predict the first new event."""
    state = stepper.zero_state(1)
    clock = 0
    logits = np.zeros((1, 1))
    for token in prime.tolist():
        clock += int(shift_steps(np.array([token]))[0])
        rows = stepper.input_rows(np.array([token]), np.array([clock]))
        logits, state = stepper.raw_step(rows, state)
    return state, logits, clock


def _sample_batch(
    stepper: PerformanceStepper,
    settings: PerformanceSettings,
    seeds: Sequence[int],
    prime: IntArray,
    state: list[np.ndarray],
    logits: FloatArray,
    clock: int,
    limit: int,
) -> list[Generated]:
    n = len(seeds)
    rows = np.zeros(n, np.int64)
    beam = Beam(
        tokens=[prime.tolist() for _ in range(n)],
        scores=np.zeros(n),
        rngs=[np.random.default_rng(s) for s in seeds],
        state=stepper.select(state, rows),
        loops=[LoopDetector(settings.sampling.loop_window, prime.tolist()) for _ in range(n)]
        if settings.sampling.argmax
        else None,
    )
    clocks = np.full(n, clock, np.int64)
    log_probs = np.repeat(logits, n, axis=0)
    total = settings.num_steps
    for _ in range(limit):
        live = clocks < total
        if not live.any():
            break
        tempered = log_softmax(log_probs, settings.sampling.temperature)
        picks = choose(log_probs, settings.sampling, beam.rngs, beam.loops)
        beam.scores += np.where(live, tempered[np.arange(n), picks], 0.0)
        for row in np.flatnonzero(live).tolist():
            beam.tokens[row].append(int(picks[row]))
            if beam.loops is not None:
                beam.loops[row].push(int(picks[row]))
        clocks = clocks + np.where(live, shift_steps(picks), 0)
        log_probs, beam.state = stepper.event_step(picks, clocks, beam.state)
    config = stepper.config
    out = []
    for seed, tokens, score in zip(seeds, beam.tokens, beam.scores.tolist(), strict=True):
        events = np.array(tokens, np.int64)
        out.append(Generated(seed, events, score, len(tokens) - len(prime), config, settings))
    return out
