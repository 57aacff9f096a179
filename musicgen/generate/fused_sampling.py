"""PerformanceRNN's plain sampling, compiled: many steps per call, finished rows refilled.

One compiled call runs up to ``STEPS_PER_CALL`` steps of sample + encode + LSTM for every row
(:func:`compiled_steps`); :func:`sample_fused` feeds it seeds through ``ROWS`` slots, a slot
taking the next piece when its own ends. Each row's uniforms come from its own generator, so a
piece depends on its seed only, whatever the batch, the slots or the steps per call.

The cells run on their own weights, not through Keras' cell calls, because per step they are:

- for a one-hot event input, a row gather of the first kernel (``one_hot(e) @ W`` is row ``e``
  of ``W``; the control columns, when there are any, still multiply their slice of ``W``);
- one GEMM per layer, ``[x, h] @ [W; U]``, with the stacked kernel built once per call.

The math is Keras' ``LSTMCell`` (gates i, f, c, o; ``c' = f*c + i*tanh(z_c)``, ``h' =
o*tanh(c')``); a model whose cells are not plain tanh/sigmoid LSTMs with a bias takes Keras'
cells (:meth:`PerformanceStepper._step_graph`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from musicgen.encodings import performance as perf
from musicgen.generate.compiled_cache import generation_cache
from musicgen.generate.performance_generator import (
    Generated,
    PerformanceSettings,
    PerformanceStepper,
)
from musicgen.generate.sampling import FloatArray, IntArray

# Steps per compiled call of the plain sampler: the call's fixed cost (argument conversion, the
# executor's start, the host sync) is paid once per this many steps instead of once per step.
STEPS_PER_CALL = 64
# Rows of the plain sampler: more seeds than this run through this many slots, each slot taking
# the next piece when its own ends. On a CPU 256 rows already keep the GEMMs at full speed.
ROWS = 256


def _plain_cells(stepper: PerformanceStepper) -> bool:
    """Whether every cell is Keras' default LSTM math (tanh/sigmoid, with a bias)."""
    import keras

    return all(
        cell.use_bias
        and cell.activation is keras.activations.tanh
        and cell.recurrent_activation is keras.activations.sigmoid
        for cell in stepper.cells
    )


class KerasCells:
    """The step through Keras' cells on the built input row (any encoding, any cell)."""

    def __init__(self, stepper: PerformanceStepper) -> None:
        import tensorflow as tf

        self.stepper = stepper
        config = stepper.config
        self.table = tf.constant(
            perf.event_inputs(np.arange(config.num_event_classes), config), tf.float32
        )

    def packed(self) -> tuple[Any, ...]:
        """Nothing to prepare per call."""
        return ()

    def __call__(self, controls: Any, picks: Any, state: list[Any], packed: Any) -> Any:
        """``(logits, state)`` for the picks, with their rows' ``controls``."""
        import tensorflow as tf

        if self.stepper.embedding:
            return self.stepper._step_graph(picks, state)
        row = tf.concat([controls, tf.gather(self.table, picks)], -1)
        return self.stepper._step_graph(row, state)


class GatheredCells:
    """The step on the cells' own weights, for one-hot event inputs and plain LSTM cells: the
    first kernel's event rows gathered, one ``[x, h] @ [W; U]`` GEMM per further layer."""

    def __init__(self, stepper: PerformanceStepper, control_width: int) -> None:
        self.cells, self.dense = stepper.cells, stepper.dense
        self.control_width = control_width

    def packed(self) -> tuple[Any, ...]:
        """Per call, outside the step loop: the first kernel split into its control and event
        rows, and each further layer's ``[W; U]``."""
        import tensorflow as tf

        def f32(weight: Any) -> Any:
            return tf.cast(weight, tf.float32)

        first = f32(self.cells[0].kernel)
        stacked = [tf.concat([f32(c.kernel), f32(c.recurrent_kernel)], 0) for c in self.cells[1:]]
        return first[: self.control_width], first[self.control_width :], stacked

    def __call__(self, controls: Any, picks: Any, state: list[Any], packed: Any) -> Any:
        """``(logits, state)`` for the picks, with their rows' ``controls``."""
        import tensorflow as tf

        control_kernel, event_kernel, stacked = packed
        cells = self.cells
        z = tf.gather(event_kernel, picks) + tf.matmul(
            state[0], tf.cast(cells[0].recurrent_kernel, tf.float32)
        )
        if self.control_width:
            z += tf.matmul(controls, control_kernel)
        x, c = _gates(z + tf.cast(cells[0].bias, tf.float32), state[1])
        new_state = [x, c]
        for i, cell in enumerate(cells[1:], start=1):
            z = tf.matmul(tf.concat([x, state[2 * i]], -1), stacked[i - 1])
            x, c = _gates(z + tf.cast(cell.bias, tf.float32), state[2 * i + 1])
            new_state += [x, c]
        kernel, bias = tf.cast(self.dense.kernel, tf.float32), tf.cast(self.dense.bias, tf.float32)
        return tf.matmul(x, kernel) + bias, new_state


def _gates(z: Any, c: Any) -> tuple[Any, Any]:
    """Keras' LSTM update from the pre-activations ``z`` (gates i, f, c, o)."""
    import tensorflow as tf

    i, f, g, o = tf.split(z, 4, axis=-1)
    c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
    return tf.sigmoid(o) * tf.tanh(c), c


def step_cells(stepper: PerformanceStepper, control_width: int) -> KerasCells | GatheredCells:
    """The gathered step where the event input is a plain one-hot and the cells are plain."""
    config = stepper.config
    events = perf.event_inputs(np.arange(config.num_event_classes), config)
    one_hot = not stepper.embedding and np.array_equal(events, np.eye(len(events)))
    if one_hot and _plain_cells(stepper):
        return GatheredCells(stepper, control_width)
    return KerasCells(stepper)


def compiled_steps(stepper: PerformanceStepper, settings: PerformanceSettings) -> Any:
    """Up to ``len(uniforms)`` steps of sample + encode + LSTM in one compiled call.

    Per row and step: the tempered softmax is sampled by inverse CDF with that row's uniform for
    the step, the pick's TIME_SHIFT advances the row's clock, and the pick (with the control for
    the next position, looked up by clock in a precomputed table) goes through the cells. The
    loop stops early once every row's clock has reached the end.
    """
    import tensorflow as tf

    cache = generation_cache(stepper.model).setdefault("fused", {})
    if settings in cache:
        return cache[settings]
    horizon = settings.num_steps + perf.MAX_SHIFT_STEPS + 1
    control_rows = stepper.controls.rows(np.arange(horizon)).astype(np.float32)
    controls = tf.constant(control_rows)
    cells = step_cells(stepper, control_rows.shape[1])
    temperature = float(settings.sampling.temperature)
    top_k, top_p = settings.sampling.top_k, float(settings.sampling.top_p)
    total = settings.num_steps

    def one_step(
        logits: Any, state: list[Any], clocks: Any, scores: Any, uniforms: Any, packed: Any
    ) -> Any:
        live = clocks < total
        logp = tf.nn.log_softmax(tf.cast(logits, tf.float32) / temperature)
        cdf = tf.cumsum(tf.exp(truncated(logp, top_k, top_p)), axis=-1)
        target = uniforms * cdf[:, -1]
        picks = tf.reduce_sum(tf.cast(cdf < target[:, None], tf.int32), axis=-1)
        picks = tf.minimum(picks, tf.shape(logp)[-1] - 1)
        scores = scores + tf.gather(logp, picks, batch_dims=1) * tf.cast(live, tf.float32)
        is_shift = (picks > perf.TIME_SHIFT_OFFSET) & (picks <= perf.VELOCITY_OFFSET)
        clocks = clocks + tf.where(is_shift & live, picks - perf.TIME_SHIFT_OFFSET, 0)
        row_controls = tf.gather(controls, tf.minimum(clocks, horizon - 1))
        new_logits, new_state = cells(row_controls, picks, state, packed)
        return picks, live, clocks, scores, new_logits, new_state

    def steps(logits: Any, state: list[Any], clocks: Any, scores: Any, uniforms: Any) -> Any:
        count = tf.shape(uniforms)[0]
        packed = cells.packed()
        picks_ta = tf.TensorArray(tf.int32, size=count)
        live_ta = tf.TensorArray(tf.bool, size=count)

        def body(k: Any, logits: Any, state: Any, clocks: Any, scores: Any, picks_ta: Any,
                 live_ta: Any) -> Any:  # fmt: skip
            picks, live, clocks, scores, logits, state = one_step(
                logits, state, clocks, scores, uniforms[k], packed
            )
            return (
                k + 1,
                logits,
                state,
                clocks,
                scores,
                picks_ta.write(k, picks),
                live_ta.write(k, live),
            )

        def running(k: Any, logits: Any, state: Any, clocks: Any, *_: Any) -> Any:
            return (k < count) & tf.reduce_any(clocks < total)

        k, logits, state, clocks, scores, picks_ta, live_ta = tf.while_loop(
            running,
            body,
            (tf.constant(0), logits, state, clocks, scores, picks_ta, live_ta),
            parallel_iterations=1,
        )
        taken = tf.range(k)
        return picks_ta.gather(taken), live_ta.gather(taken), clocks, scores, logits, state

    cache[settings] = tf.function(steps, reduce_retracing=True)
    return cache[settings]


def truncated(logp: Any, top_k: int, top_p: float) -> Any:
    """``sampling.truncate`` in TensorFlow, unnormalised (the sampler scales by the total)."""
    import tensorflow as tf

    if top_k and top_k < logp.shape[-1]:
        kth = tf.math.top_k(logp, k=top_k, sorted=True).values[:, -1:]
        logp = tf.where(logp >= kth, logp, -np.inf)
    if top_p < 1.0:
        probs = tf.exp(logp - tf.reduce_logsumexp(logp, axis=-1, keepdims=True))
        ordered = tf.sort(probs, axis=-1, direction="DESCENDING")
        before = tf.cumsum(ordered, axis=-1, exclusive=True)
        size = tf.maximum(tf.reduce_sum(tf.cast(before < top_p - 1e-6, tf.int32), axis=-1), 1)
        least = tf.gather(ordered, size - 1, batch_dims=1)
        logp = tf.where(probs >= least[:, None], logp, -np.inf)
    return logp


def sample_fused(
    stepper: PerformanceStepper,
    settings: PerformanceSettings,
    seeds: Sequence[int],
    prime: IntArray,
    state: list[np.ndarray],
    logits: FloatArray,
    clock: int,
    limit: int,
    steps_per_call: int = STEPS_PER_CALL,
    rows: int = ROWS,
) -> list[Generated]:
    """Plain sampling of every seed through ``rows`` slots: a slot whose piece has ended takes
    the next piece (from the primer's state), so no row waits for the longest piece of a batch.
    Slot r's uniforms are the next draws of its piece's own generator, so a piece is the same
    whatever the slots, the order or the steps per call."""
    import tensorflow as tf

    run_steps = compiled_steps(stepper, settings)
    slots = max(1, min(rows, len(seeds)))
    total = settings.num_steps
    waiting = iter(range(len(seeds)))
    piece_of: list[int | None] = [next(waiting) for _ in range(slots)]
    rngs = {p: np.random.default_rng(seeds[p]) for p in piece_of if p is not None}
    picks_of: list[list[np.ndarray]] = [[] for _ in seeds]
    steps_of = [0] * len(seeds)
    scores_of = [0.0] * len(seeds)
    first_state = [np.repeat(s[:1], slots, axis=0) for s in state]
    np_state = [s.copy() for s in first_state]
    np_logits = np.repeat(logits[:1], slots, axis=0).astype(np.float32)
    np_clocks = np.full(slots, clock, np.int32)
    np_scores = np.zeros(slots, np.float32)
    while any(p is not None for p in piece_of):
        active = [p for p in piece_of if p is not None]
        count = min(steps_per_call, min(limit - steps_of[p] for p in active))
        uniforms = np.zeros((count, slots), np.float32)
        for slot, p in enumerate(piece_of):
            if p is not None:  # the next ``count`` draws of this piece's generator
                uniforms[:, slot] = rngs[p].random(count)
        picks, live, clocks, scores, new_logits, new_state = run_steps(
            tf.constant(np_logits), [tf.constant(s) for s in np_state],
            tf.constant(np_clocks), tf.constant(np_scores), tf.constant(uniforms),
        )  # fmt: skip
        picks, live = picks.numpy(), live.numpy()
        np_clocks, np_scores, np_logits = clocks.numpy(), scores.numpy(), new_logits.numpy()
        np_state = [s.numpy() for s in new_state]
        for slot, p in enumerate(piece_of):
            if p is None:
                continue
            picks_of[p].append(picks[:, slot][live[:, slot]])
            steps_of[p] += len(picks)
            if np_clocks[slot] < total and steps_of[p] < limit:
                continue
            scores_of[p] = float(np_scores[slot])
            nxt = next(waiting, None)
            piece_of[slot] = nxt
            if nxt is None:  # an idle slot: past the end, so never live
                np_clocks[slot] = total
                continue
            rngs[nxt] = np.random.default_rng(seeds[nxt])
            for s, first in zip(np_state, first_state, strict=True):
                s[slot] = first[slot]
            np_logits[slot] = logits[0]
            np_clocks[slot] = clock
            np_scores[slot] = 0.0
    out = []
    for p, seed in enumerate(seeds):
        generated = np.concatenate(picks_of[p]).astype(np.int64) if picks_of[p] else np.zeros(0)
        events = np.concatenate([prime, generated.astype(np.int64)])
        out.append(Generated(seed, events, scores_of[p], len(generated), stepper.config, settings))
    return out
