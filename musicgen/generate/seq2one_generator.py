"""Batched generation with the many-to-one LSTM: slide the window, append each prediction.

Unlike the stateful generators of :mod:`.roll_generator`, which advance LSTM cells one step
at a time, a ``seq2one_lstm`` model was trained to read at most ``model.window`` steps from a
zero state; so every frame is predicted from the last ``window`` steps (fewer at the start,
padded and masked exactly as in training), and the prediction is appended to the history.
That costs ``window`` LSTM steps per frame, the price of the model's fixed context.

The contract is ``generate_chords``' and ``generate_pianoroll``'s: one
``numpy.random.Generator`` per seed (so a piece depends only on its seed, never on the rest of
its batch), temperature, ``argmax``, ``top_k`` and ``top_p`` as those generators honour them,
the primer kept at the start of the piece (a silent frame when there is none), and the model's
step compiled once (kept on the model, for any batch size).

- ``chord`` target: one class per frame, chosen by :func:`~.sampling.choose` (argmax samples
  while the last ``loop_window`` chords repeat an earlier run); the out-of-vocabulary class is
  never chosen.
- ``frame`` target: each key's (off, start, continue) distribution at the temperature; the
  key sounds with ``P(start) + P(continue)`` (truncated like the piano-roll families' keys by
  top-k/top-p), and then is struck with probability ``P(start) / P(on)``, all from one
  uniform per key. ``argmax``: on when ``P(on) >= model.threshold`` (the rule of the frame
  accuracy), struck when start is likelier than continue. A key drawn as "continue" after a
  silent frame is fed back, and decoded, as struck: a note cannot continue from silence.
  ``loop_window`` does not apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from musicgen.encodings.chords import OOV_ID, SILENCE_ID
from musicgen.generate.roll_generator import (
    GeneratedRoll,
    RollSettings,
    _compiled,
    _pieces,
    _primer,
)
from musicgen.generate.sampling import (
    LoopDetector,
    SamplingSettings,
    choose,
    log_softmax,
    truncate_bernoulli,
)

START, CONTINUE = 1, 2  # a key's classes (OFF is 0), as in musicgen.models.seq2one_lstm
_MIN_PITCH = 21  # the frame target's roll starts at A0, as the piano-roll families' do


def generate_seq2one(
    model: Any,
    settings: RollSettings,
    seeds: Sequence[int],
    primer: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    loop_window: int = 8,
) -> list[GeneratedRoll]:
    """Samples with a ``seq2one_lstm`` model (see the module docstring).

    Args:
        model: A :class:`~musicgen.models.seq2one_lstm.Seq2OneLSTM`.
        settings: Frames to generate and how to draw them.
        seeds: One piece per seed.
        primer: ``(frames, onsets)`` ``[T, 88]`` to continue; None: one silent frame.
        loop_window: Chord target with ``argmax``: sample while the last this many chords
            repeat an earlier run (0: never).

    Returns:
        One :class:`GeneratedRoll` per seed, the primer's frames first.
    """
    step = _compiled(model, ("seq2one",), lambda: _model_step(model))
    if model.target == "chord":
        return _chords(model, step, settings, seeds, primer, loop_window)
    return _frames(model, step, settings, seeds, primer)


def _model_step(model: Any) -> Any:
    def step(context: Any, mask: Any) -> Any:
        return model({"context": context, "mask": mask}, training=False)

    return step


def context(history: Sequence[np.ndarray], window: int) -> tuple[np.ndarray, np.ndarray]:
    """The last ``window`` steps of ``history`` (a list of ``[B, ...]`` steps), real steps
    first and zero padding after, and the mask ``[B, W]`` of the real ones: the layout the
    model was trained on. Always ``window`` long, so the compiled step is traced once."""
    recent = np.stack(history[-window:], axis=1)
    length = recent.shape[1]
    pad = [(0, 0), (0, window - length)] + [(0, 0)] * (recent.ndim - 2)
    mask = np.zeros((recent.shape[0], window), bool)
    mask[:, :length] = True
    return np.pad(recent, pad), mask


def _chords(
    model: Any,
    step: Any,
    settings: RollSettings,
    seeds: Sequence[int],
    primer: tuple[np.ndarray, np.ndarray] | None,
    loop_window: int,
) -> list[GeneratedRoll]:
    vocabulary = model.vocabulary
    n = len(seeds)
    sampling = SamplingSettings(
        temperature=settings.temperature,
        argmax=settings.argmax,
        loop_window=loop_window,
        top_k=settings.top_k,
        top_p=settings.top_p,
    )
    prime_frames, prime_onsets = _primer(primer, vocabulary.num_pitches)
    prime_ids = (
        vocabulary.encode(prime_frames.astype(bool))
        if primer is not None
        else np.array([SILENCE_ID])
    )
    rngs = [np.random.default_rng(s) for s in seeds]
    loops = [LoopDetector(loop_window, prime_ids.tolist()) for _ in seeds]
    ids = [np.full(n, chord, np.int32) for chord in prime_ids.tolist()]
    frames = [np.repeat(prime_frames[t : t + 1], n, axis=0) for t in range(len(prime_frames))]
    onsets = [np.repeat(prime_onsets[t : t + 1], n, axis=0) for t in range(len(prime_onsets))]
    scores = np.zeros(n)
    for _ in range(settings.num_frames):
        logits = np.asarray(step(*context(ids, model.window)), np.float64)
        logits[:, OOV_ID] = -1e9
        picks = choose(logits, sampling, rngs, loops)
        scores += log_softmax(logits, settings.temperature)[np.arange(n), picks]
        for pick, loop in zip(picks.tolist(), loops, strict=True):
            loop.push(pick)
        ids.append(picks.astype(np.int32))
        on = vocabulary.decode(picks)
        frames.append(on.astype(np.float32))
        onsets.append((on & ~frames[-2].astype(bool)).astype(np.float32))
    return _pieces(seeds, frames, onsets, scores, settings, vocabulary.min_pitch)


def draw_keys(
    logits: np.ndarray, uniforms: np.ndarray, settings: RollSettings, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each key's class ``[B, P]`` (0 off, START, CONTINUE) from (off, start, continue)
    logits ``[B, P, 3]`` and one uniform per key, and the log-likelihood of the choice per row
    (at the temperature)."""
    log_probs = log_softmax(logits, settings.temperature)
    probs = np.exp(log_probs)
    p_on = probs[..., START] + probs[..., CONTINUE]
    allowed = truncate_bernoulli(p_on, settings.top_k, settings.top_p)
    if settings.argmax:
        on = allowed >= threshold
        start = probs[..., START] >= probs[..., CONTINUE]
    else:
        on = uniforms < allowed
        start = uniforms < allowed * probs[..., START] / np.maximum(p_on, 1e-300)
    classes = np.where(on, np.where(start, START, CONTINUE), 0)
    ll = np.take_along_axis(log_probs, classes[..., None], axis=-1)[..., 0].sum(axis=-1)
    return classes, ll


def _frames(
    model: Any,
    step: Any,
    settings: RollSettings,
    seeds: Sequence[int],
    primer: tuple[np.ndarray, np.ndarray] | None,
) -> list[GeneratedRoll]:
    n, p = len(seeds), model.num_pitches
    prime_frames, prime_onsets = _primer(primer, p)
    rngs = [np.random.default_rng(s) for s in seeds]
    frames = [np.repeat(prime_frames[t : t + 1], n, axis=0) for t in range(len(prime_frames))]
    onsets = [np.repeat(prime_onsets[t : t + 1], n, axis=0) for t in range(len(prime_onsets))]
    rows = [_row(f, o) for f, o in zip(frames, onsets, strict=True)]
    scores = np.zeros(n)
    for _ in range(settings.num_frames):
        logits = np.asarray(step(*context(rows, model.window)), np.float64)
        uniforms = np.stack([rng.random(p) for rng in rngs])
        classes, ll = draw_keys(logits, uniforms, settings, model.threshold)
        scores += ll
        on = classes > 0
        struck = (classes == START) | (on & ~frames[-1].astype(bool))
        frames.append(on.astype(np.float32))
        onsets.append(struck.astype(np.float32))
        rows.append(_row(frames[-1], onsets[-1]))
    return _pieces(seeds, frames, onsets, scores, settings, _MIN_PITCH)


def _row(frames: np.ndarray, onsets: np.ndarray) -> np.ndarray:
    """``[start | continue]`` rows, as :func:`~musicgen.models.seq2one_lstm.frame_rows`."""
    on = frames.astype(bool)
    start = on & onsets.astype(bool)
    return np.concatenate([start, on & ~start], axis=-1).astype(np.float32)
