"""Batched generation with EnDeCell: frame by frame, and inside each frame key by key.

Per frame: the encoder embeds the previous frame, the time LSTM cells take one step, and the
decoder draws the new frame from the lowest key chunk up, each chunk seeing the chunk drawn
below it, as in training. Randomness is one uniform per key from each row's own
``numpy.random.Generator``, passed into the compiled step, so a piece depends only on its seed.

Two functions are compiled once per model and kept on it (``roll_generator._compiled``): the
frame advance (encoder + time cells) and the draw. The decoder's key loop is a
``tf.while_loop`` (one key step in the graph, not 88), and the drawing settings (temperature,
argmax, top-k, top-p, threshold) are tensors, so no setting and no batch size retraces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from musicgen.generate.roll_generator import (
    GeneratedRoll,
    RollSettings,
    _cells,
    _compiled,
    _pieces,
    _primer,
    _row,
    _run_cells,
    _zero_state,
)

MIN_PITCH = 21  # the piano roll's lowest key (A0)


def generate_endecell(
    model: Any,
    settings: RollSettings,
    seeds: Sequence[int],
    primer: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[GeneratedRoll]:
    """Samples with an EnDeCell model (the primer's frames are fed, not drawn; no primer: one
    silent frame). ``argmax`` thresholds at ``model.threshold``; ``top_k`` lets at most k keys
    of a frame sound, taken bottom-up as they are drawn; ``top_p`` is each key's nucleus."""
    time_cells = _cells(model.time_axis, "time_lstm_")
    advance = _compiled(model, ("endecell_advance",), lambda: _advance_step(model))
    draw = _compiled(model, ("endecell_draw",), lambda: _draw_step(model))
    knobs = (
        np.float32(settings.temperature),
        np.bool_(settings.argmax),
        np.float32(settings.top_k),
        np.float32(settings.top_p),
        np.float32(model.threshold),
    )
    n, p = len(seeds), model.num_pitches
    prime_frames, prime_onsets = _primer(primer, p)
    rngs = [np.random.default_rng(s) for s in seeds]
    state = _zero_state(time_cells, n)
    frames = [np.repeat(prime_frames[t : t + 1], n, axis=0) for t in range(len(prime_frames))]
    onsets = [np.repeat(prime_onsets[t : t + 1], n, axis=0) for t in range(len(prime_onsets))]
    for t in range(len(frames) - 1):  # the last primer frame is fed with the first draw
        _, state = advance(_row(frames[t], onsets[t]), state)
    scores = np.zeros(n)
    for _ in range(settings.num_frames):
        condition, state = advance(_row(frames[-1], onsets[-1]), state)
        uniforms = np.stack([rng.random(p) for rng in rngs]).astype(np.float32)
        on, ll = draw(condition, uniforms, *knobs)
        on = np.asarray(on).astype(bool)
        onsets.append((on & ~frames[-1].astype(bool)).astype(np.float32))
        frames.append(on.astype(np.float32))
        scores += np.asarray(ll, np.float64)
    return _pieces(seeds, frames, onsets, scores, settings, MIN_PITCH)


def _advance_step(model: Any) -> Callable[..., Any]:
    """``(rows [N, 2P], time state)`` to ``(embedding of the next frame [N, E], time state)``."""
    time_cells = _cells(model.time_axis, "time_lstm_")
    projection = model.time_axis.get_layer("time_projection")

    def advance(rows: Any, state: list[Any]) -> tuple[Any, list[Any]]:
        out, state = _run_cells(time_cells, model.encode(rows, training=False), state)
        return projection(out), state

    return advance


def _draw_step(model: Any) -> Callable[..., Any]:
    """``(embedding [N, E], uniforms [N, P], temperature, argmax, top_k, top_p, threshold)``
    to ``(keys on [N, P], log-likelihood [N])``: the decoder from the lowest chunk up."""
    import tensorflow as tf

    cell = model.decoder.get_layer("decoder_lstm").cell
    dense = model.decoder.get_layer("logits")
    chunk, steps = model.key_chunk, model.key_steps

    def draw(
        condition: Any,
        uniforms: Any,
        temperature: Any,
        argmax: Any,
        top_k: Any,
        top_p: Any,
        threshold: Any,
    ) -> tuple[Any, Any]:
        n = tf.shape(condition)[0]
        by_step = tf.transpose(tf.reshape(uniforms, [n, steps, chunk]), [1, 0, 2])  # [S, N, c]

        def key_step(
            j: Any, state: list[Any], below: Any, sounding: Any, lls: Any, picks: Any
        ) -> tuple[Any, ...]:
            x = tf.concat([condition, tf.cast(below, condition.dtype)], axis=-1)
            out, state = cell(x, state, training=False)
            prob = tf.sigmoid(tf.cast(dense(out), tf.float32) / temperature)
            allowed = _nucleus(prob, top_p)
            pick = tf.cast(tf.where(argmax, allowed >= threshold, by_step[j] < allowed), tf.float32)
            # Keys are drawn bottom-up: a key past the frame's top_k-th sounding one is dropped.
            running = sounding[:, None] + tf.cumsum(pick, axis=1)
            pick = tf.where((top_k > 0) & (running > top_k), tf.zeros_like(pick), pick)
            ll = pick * tf.math.log(prob + 1e-12) + (1 - pick) * tf.math.log(1 - prob + 1e-12)
            return (
                j + 1,
                state,
                pick,
                sounding + tf.reduce_sum(pick, axis=1),
                lls + tf.reduce_sum(ll, axis=1),
                picks.write(j, pick),
            )

        start = (
            tf.constant(0),
            [tf.zeros([n, cell.units]), tf.zeros([n, cell.units])],
            tf.zeros([n, chunk]),  # below the lowest chunk: silence
            tf.zeros([n]),  # keys sounding so far
            tf.zeros([n]),  # log-likelihood
            tf.TensorArray(tf.float32, size=steps),
        )
        *_, lls, picks = tf.while_loop(lambda j, *_: j < steps, key_step, start)
        keys = tf.reshape(tf.transpose(picks.stack(), [1, 0, 2]), [n, steps * chunk])
        return keys, lls

    return draw


def _nucleus(prob: Any, top_p: Any) -> Any:
    """``truncate_bernoulli``'s nucleus of each on/off draw with a tensor ``top_p`` (at 1.0 it
    changes nothing: only probabilities already exactly 0 or 1 meet its conditions)."""
    import tensorflow as tf

    prob = tf.where((prob > 0.5) & (prob >= top_p), tf.ones_like(prob), prob)
    return tf.where((prob < 0.5) & (1.0 - prob >= top_p), tf.zeros_like(prob), prob)
