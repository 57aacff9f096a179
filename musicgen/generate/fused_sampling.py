"""PerformanceRNN's plain sampling, compiled: many steps per call, finished rows refilled.

One compiled call runs up to :func:`steps_per_call` steps of sample + encode + LSTM for every row
(:func:`compiled_steps`); :func:`sample_fused` feeds it seeds through ``ROWS`` slots, a slot
taking the next piece when its own ends. Each row's uniforms come from its own generator, so a
piece depends on its seed only, whatever the batch, the slots or the steps per call.

The cells are :func:`~musicgen.generate.performance_cells.step_cells`: for one-hot event inputs
a row gather of the first kernel and one ``[x, h] @ [W; U]`` GEMM per further layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from musicgen.encodings import performance as perf
from musicgen.generate.compiled_cache import generation_cache
from musicgen.generate.performance_cells import step_cells
from musicgen.generate.performance_generator import (
    Generated,
    PerformanceSettings,
    PerformanceStepper,
)
from musicgen.generate.sampling import FloatArray, IntArray

# Row-steps per compiled call of the plain sampler, and the bounds on its steps. The call's fixed
# cost (argument conversion, the executor's start, the host sync: a few ms) is paid once per
# call; but a piece that ends inside a call keeps its row busy to the call's end, and the next
# piece only takes the row at the next call, so long calls waste rows when pieces are short. A
# call of ~2,048 row-steps keeps the fixed cost near 2% at 3 x 512 on a 2-core CPU: 8 steps for
# 256 rows (measured, ~70-event pieces, batch 256 / 1024 events/s: 64 steps 6,443 / 5,945; 16:
# 6,466 / 6,875; 8: 7,594 / 7,884; 4: 7,936 / 7,290; 2: 5,902 / 6,244), 64 for one row (one
# piece at a time: 8 steps lost a third of the speed of 64).
ROW_STEPS_PER_CALL = 2048
MIN_STEPS_PER_CALL, MAX_STEPS_PER_CALL = 8, 64


def steps_per_call(rows: int) -> int:
    """Steps of the next call for ``rows`` rows (see ``ROW_STEPS_PER_CALL``)."""
    return max(MIN_STEPS_PER_CALL, min(MAX_STEPS_PER_CALL, ROW_STEPS_PER_CALL // max(rows, 1)))


# Rows of the plain sampler: more seeds than this run through this many slots, each slot taking
# the next piece when its own ends. On a CPU 256 rows already keep the GEMMs at full speed.
ROWS = 256


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
    per_call: int | None = None,
    rows: int = ROWS,
) -> list[Generated]:
    """Plain sampling of every seed through ``rows`` slots: a slot whose piece has ended takes
    the next piece (from the primer's state), and once no piece is waiting the slots of ended
    pieces are dropped, so no row computes for a piece that has ended (beyond its last call).
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
    first_state = [s[0] for s in state]
    np_state = [np.repeat(s[:1], slots, axis=0) for s in state]
    np_logits = np.repeat(logits[:1], slots, axis=0).astype(np.float32)
    np_clocks = np.full(slots, clock, np.int32)
    np_scores = np.zeros(slots, np.float32)
    while any(p is not None for p in piece_of):
        active = [p for p in piece_of if p is not None]
        steps = per_call or steps_per_call(len(active))
        count = min(steps, min(limit - steps_of[p] for p in active))
        uniforms = np.zeros((count, len(piece_of)), np.float32)
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
            if nxt is None:  # no piece left for this slot: it is dropped below
                continue
            rngs[nxt] = np.random.default_rng(seeds[nxt])
            for s, first in zip(np_state, first_state, strict=True):
                s[slot] = first
            np_logits[slot] = logits[0]
            np_clocks[slot] = clock
            np_scores[slot] = 0.0
        keep = [slot for slot, p in enumerate(piece_of) if p is not None]
        if len(keep) < len(piece_of):  # the batch shrinks: no GEMM rows for finished pieces
            piece_of = [piece_of[slot] for slot in keep]
            np_state = [s[keep] for s in np_state]
            np_logits, np_clocks, np_scores = np_logits[keep], np_clocks[keep], np_scores[keep]
    out = []
    for p, seed in enumerate(seeds):
        generated = np.concatenate(picks_of[p]).astype(np.int64) if picks_of[p] else np.zeros(0)
        events = np.concatenate([prime, generated.astype(np.int64)])
        out.append(Generated(seed, events, scores_of[p], len(generated), stepper.config, settings))
    return out
