"""Piano-roll generation, batched: the piano-roll LSTM, Johnson's biaxial LSTM, the chord LSTM
and the seq2seq LSTM.

All advance a batch of rows one frame at a time through the trained LSTM cells. Randomness
comes from each row's own ``numpy.random.Generator`` (uniforms drawn per frame and passed into
the compiled step), so a sample depends only on its seed. Keys are drawn from their Bernoulli
probabilities (or thresholded, ``argmax``); a key articulates where it starts after silence
(piano-roll, chord and seq2seq LSTMs) or where the biaxial model's articulate output says so.
The chord LSTM draws one chord class per frame instead (argmax, sampling, or argmax that
samples while the last chords repeat an earlier run: loop-breaking).

Each compiled step is traced once per model (the biaxial one also per drawing setting, which its
graph holds as constants) and kept on the model (:mod:`musicgen.generate.compiled_cache`), for
any batch size: piece after piece must not pay for tracing again. The biaxial note axis is a
``tf.while_loop`` over the keys, so its graph holds one note step rather than 88.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from musicgen.encodings import biaxial
from musicgen.encodings.chords import OOV_ID, SILENCE_ID
from musicgen.encodings.pianoroll import DEFAULT_QPM, PianoRoll, decode
from musicgen.generate.compiled_cache import generation_cache
from musicgen.generate.sampling import (
    LoopDetector,
    SamplingSettings,
    check_truncation,
    choose,
    log_softmax,
    truncate_bernoulli,
)


@dataclass(frozen=True)
class RollSettings:
    """What to generate.

    Attributes:
        num_frames: Frames to generate after the primer.
        steps_per_quarter: The grid the model was trained on (for decoding to seconds).
        temperature: Logits are divided by it before the sigmoid.
        argmax: Threshold at 0.5 instead of sampling.
        qpm: Tempo of the decoded MIDI.
        top_k: Keys: only the k likeliest keys of a frame may sound (``truncate_bernoulli``;
            the biaxial model, which draws keys bottom-up, sounds at most k per frame); chords:
            the k likeliest chords. 0: off.
        top_p: Keys: nucleus of each key's on/off draw; chords: nucleus of the chord
            distribution. 1.0: off.
    """

    num_frames: int = 128
    steps_per_quarter: int = 4
    temperature: float = 1.0
    argmax: bool = False
    qpm: float = DEFAULT_QPM
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.steps_per_quarter < 1 or not self.temperature > 0:
            raise ValueError(f"bad roll settings: {self}")
        check_truncation(self.top_k, self.top_p)


@dataclass
class GeneratedRoll:
    """One generated piece: frames and onsets ``[T, 88]`` (primer included), decoded notes."""

    seed: int
    frames: np.ndarray
    onsets: np.ndarray
    sequence: Any
    log_likelihood: float


def to_sequence(
    frames: np.ndarray, onsets: np.ndarray, settings: RollSettings, min_pitch: int
) -> Any:
    """A NoteSequence of a roll on a constant-tempo grid."""
    seconds = 60.0 / settings.qpm / settings.steps_per_quarter
    roll = PianoRoll(
        frames=frames.astype(bool),
        onsets=(onsets & frames).astype(bool),
        frame_times=np.arange(len(frames) + 1) * seconds,
        steps_per_quarter=settings.steps_per_quarter,
        min_pitch=min_pitch,
        tempo_qpms=np.full(1, settings.qpm),
    )
    return decode(roll)


def _bernoulli(
    logits: np.ndarray, uniforms: np.ndarray, settings: RollSettings, threshold: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Keys on (``argmax``: at or above ``threshold``), and the log-likelihood of that choice,
    per row."""
    p = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64) / settings.temperature))
    allowed = truncate_bernoulli(p, settings.top_k, settings.top_p)
    on = allowed >= threshold if settings.argmax else uniforms < allowed
    eps = 1e-12
    ll = np.where(on, np.log(p + eps), np.log(1 - p + eps)).sum(axis=-1)
    return on, ll


def _cells(model: Any, prefix: str) -> list[Any]:
    return [layer.cell for layer in model.layers if layer.name.startswith(prefix)]


def _run_cells(cells: Sequence[Any], x: Any, state: list[Any]) -> tuple[Any, list[Any]]:
    new_state = []
    for i, cell in enumerate(cells):
        x, (h, c) = cell(x, [state[2 * i], state[2 * i + 1]], training=False)
        new_state += [h, c]
    return x, new_state


def _zero_state(cells: Sequence[Any], batch: int) -> list[np.ndarray]:
    return [np.zeros((batch, cell.units), np.float32) for cell in cells for _ in range(2)]


def _compiled(model: Any, key: tuple[Any, ...], build: Callable[[], Callable[..., Any]]) -> Any:
    """The model's compiled ``build()``, traced on first use and kept on the model under
    ``key``, which must name everything the traced code depends on besides the model. Batch
    sizes share it (``reduce_retracing``: a second size traces once more, for any size)."""
    import tensorflow as tf

    cache = generation_cache(model).setdefault("roll", {})
    fn = cache.get(key)
    if fn is None:
        fn = cache[key] = tf.function(build(), reduce_retracing=True)
    return fn


def _cell_step(cells: Sequence[Any], dense: Any, embedding: Any = None) -> Callable[..., Any]:
    """One step of the stacked cells: ``(x, state)`` to ``(logits, state)``."""

    def step(x: Any, state: list[Any]) -> tuple[Any, list[Any]]:
        out, state = _run_cells(cells, x if embedding is None else embedding(x), state)
        return dense(out), state

    return step


def generate_pianoroll(
    model: Any,
    settings: RollSettings,
    seeds: Sequence[int],
    primer: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[GeneratedRoll]:
    """Samples with the piano-roll LSTM; input row t is ``[frame_t | onset_t]``."""
    cells = _cells(model, "lstm_")
    step = _compiled(model, ("pianoroll",), lambda: _cell_step(cells, model.get_layer("logits")))
    n, p = len(seeds), model.num_pitches
    prime_frames, prime_onsets = _primer(primer, p)
    rngs = [np.random.default_rng(s) for s in seeds]
    state = _zero_state(cells, n)
    frames = [np.repeat(prime_frames[t : t + 1], n, axis=0) for t in range(len(prime_frames))]
    onsets = [np.repeat(prime_onsets[t : t + 1], n, axis=0) for t in range(len(prime_onsets))]
    scores = np.zeros(n)
    logits = None
    for t in range(len(frames)):
        x = np.concatenate([frames[t], onsets[t]], axis=1).astype(np.float32)
        logits, state = step(x, state)
    for _ in range(settings.num_frames):
        uniforms = np.stack([rng.random(p) for rng in rngs])
        on, ll = _bernoulli(np.asarray(logits), uniforms, settings)
        scores += ll
        onset = on & ~frames[-1].astype(bool)
        frames.append(on.astype(np.float32))
        onsets.append(onset.astype(np.float32))
        x = np.concatenate([frames[-1], onsets[-1]], axis=1).astype(np.float32)
        logits, state = step(x, state)
    return _pieces(seeds, frames, onsets, scores, settings, 21)


def generate_biaxial(
    model: Any,
    settings: RollSettings,
    seeds: Sequence[int],
    primer: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[GeneratedRoll]:
    """Samples with the biaxial LSTM: per frame, the time axis for all 88 notes at once, then
    the note axis from the lowest note up, each note seeing the one below (play, articulate)."""
    time_cells = _cells(model.time_axis, "time_lstm_")
    draw = (settings.temperature, settings.argmax, settings.top_k, settings.top_p)
    step = _compiled(model, ("biaxial", *draw), lambda: _biaxial_step(model, *draw))
    n, p = len(seeds), model.num_pitches
    prime_frames, prime_onsets = _primer(primer, p)
    rngs = [np.random.default_rng(s) for s in seeds]
    time_state = _zero_state(time_cells, n * p)
    frames = [np.repeat(prime_frames[t : t + 1], n, axis=0) for t in range(len(prime_frames))]
    onsets = [np.repeat(prime_onsets[t : t + 1], n, axis=0) for t in range(len(prime_onsets))]
    # Feed the primer's frames through the time axis (their note-axis draws are discarded).
    for t in range(1, len(frames)):
        feats = _step_features(frames[t - 1], onsets[t - 1], t)
        _, _, _, time_state = step(feats, time_state, np.zeros((n, p, 2), np.float32))
    scores = np.zeros(n)
    for _ in range(settings.num_frames):
        t = len(frames)
        feats = _step_features(frames[-1], onsets[-1], t)
        uniforms = np.stack([rng.random((p, 2)) for rng in rngs]).astype(np.float32)
        play, art, ll, time_state = step(feats, time_state, uniforms)
        frames.append(np.asarray(play))
        onsets.append(np.asarray(art))
        scores += np.asarray(ll, np.float64)
    return _pieces(seeds, frames, onsets, scores, settings, 21)


def generate_chords(
    model: Any,
    settings: RollSettings,
    seeds: Sequence[int],
    primer: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    loop_window: int = 8,
) -> list[GeneratedRoll]:
    """Samples with the chord LSTM: one chord class per frame, decoded by its vocabulary.

    ``settings.argmax``: the most likely chord, but sampled while the last ``loop_window``
    chords repeat an earlier run (0: never). The out-of-vocabulary class is never chosen (it
    has no notes); the log-likelihood is that of the tempered softmax without it. The primer's
    frames are encoded with the model's vocabulary (a primer chord outside it is fed as OOV).
    """
    cells = _cells(model, "lstm_")
    embedding, dense = model.get_layer("embedding"), model.get_layer("logits")
    step = _compiled(model, ("chord",), lambda: _cell_step(cells, dense, embedding))
    vocabulary = model.vocabulary
    n = len(seeds)
    sampling = SamplingSettings(
        temperature=settings.temperature,
        argmax=settings.argmax,
        loop_window=loop_window,
        top_k=settings.top_k,
        top_p=settings.top_p,
    )
    prime_frames, prime_onsets = _primer(primer, model.vocabulary.num_pitches)
    prime_ids = (
        vocabulary.encode(prime_frames.astype(bool))
        if primer is not None
        else np.array([SILENCE_ID])
    )
    rngs = [np.random.default_rng(s) for s in seeds]
    loops = [LoopDetector(loop_window, prime_ids.tolist()) for _ in seeds]
    state = _zero_state(cells, n)
    frames = [np.repeat(prime_frames[t : t + 1], n, axis=0) for t in range(len(prime_frames))]
    onsets = [np.repeat(prime_onsets[t : t + 1], n, axis=0) for t in range(len(prime_onsets))]
    scores = np.zeros(n)
    logits = None
    for chord in prime_ids.tolist():
        logits, state = step(np.full(n, chord, np.int32), state)
    for _ in range(settings.num_frames):
        masked = np.asarray(logits, np.float64).copy()
        masked[:, OOV_ID] = -1e9
        picks = choose(masked, sampling, rngs, loops)
        scores += log_softmax(masked, settings.temperature)[np.arange(n), picks]
        for row, loop in zip(picks.tolist(), loops, strict=True):
            loop.push(row)
        on = vocabulary.decode(picks)
        frames.append(on.astype(np.float32))
        onsets.append((on & ~frames[-2].astype(bool)).astype(np.float32))
        logits, state = step(picks.astype(np.int32), state)
    return _pieces(seeds, frames, onsets, scores, settings, vocabulary.min_pitch)


def generate_seq2seq(
    model: Any,
    settings: RollSettings,
    seeds: Sequence[int],
    primer: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[GeneratedRoll]:
    """Samples with the seq2seq LSTM, chunk by chunk as it was trained: the sequence (primer
    first) is cut into ``model.window``-frame chunks after a silent one; each chunk's decoder
    starts from the encoder's state of the chunk before and steps frame by frame, fed the frame
    before (the primer's own frames are fed, not drawn). ``argmax`` thresholds at
    ``model.threshold``."""
    num_layers = len(model.layer_sizes)
    encoders = [model.get_layer(f"encoder_lstm_{i}") for i in range(num_layers)]
    cells = _cells(model, "decoder_lstm_")

    def encode(source: Any) -> list[Any]:
        x, state = source, []
        for layer in encoders:
            x, h, c = layer(x, training=False)
            state += [h, c]
        return state

    encode_fn = _compiled(model, ("seq2seq_encode",), lambda: encode)
    step = _compiled(model, ("seq2seq_step",), lambda: _cell_step(cells, model.get_layer("logits")))
    n, p, window = len(seeds), model.num_pitches, model.window
    prime_frames, prime_onsets = _primer(primer, p)
    rngs = [np.random.default_rng(s) for s in seeds]
    frames = [np.repeat(prime_frames[t : t + 1], n, axis=0) for t in range(len(prime_frames))]
    onsets = [np.repeat(prime_onsets[t : t + 1], n, axis=0) for t in range(len(prime_onsets))]
    silent = np.zeros((n, 2 * p), np.float32)
    scores = np.zeros(n)
    state: list[Any] = []
    for i in range(len(frames) + settings.num_frames):
        if i % window == 0:
            rows = [_row(frames[j], onsets[j]) for j in range(i - window, i)] if i else []
            source = np.stack(rows, axis=1) if rows else np.zeros((n, window, 2 * p), np.float32)
            state = encode_fn(source)
        x = _row(frames[i - 1], onsets[i - 1]) if i else silent
        logits, state = step(x, state)
        if i < len(prime_frames):
            continue
        uniforms = np.stack([rng.random(p) for rng in rngs])
        on, ll = _bernoulli(np.asarray(logits), uniforms, settings, model.threshold)
        scores += ll
        onsets.append((on & ~frames[-1].astype(bool)).astype(np.float32))
        frames.append(on.astype(np.float32))
    return _pieces(seeds, frames, onsets, scores, settings, 21)


def _biaxial_step(
    model: Any, temperature: float, argmax: bool, top_k: int, top_p: float
) -> Callable[..., Any]:
    """The biaxial model's frame step for any batch: ``(features [B, P, F], time state,
    uniforms [B, P, 2])`` to ``(play [B, P], articulate [B, P], log-likelihood [B], time
    state)``. The note axis is a ``tf.while_loop`` from the lowest key up (one note step in
    the graph, not P), each key seeing the (play, articulate) drawn for the one below."""
    import tensorflow as tf

    time_cells = _cells(model.time_axis, "time_lstm_")
    note_cells = _cells(model.note_axis, "note_lstm_")
    dense = model.note_axis.get_layer("logits")
    p, num_features, hidden = model.num_pitches, model.num_features, time_cells[-1].units

    def frame_step(features: Any, time_state: list[Any], uniforms: Any) -> Any:
        n = tf.shape(features)[0]
        flat = tf.reshape(features, [-1, num_features])
        time_out, time_state = _run_cells(time_cells, flat, time_state)
        by_key = tf.transpose(tf.reshape(time_out, [-1, p, hidden]), [1, 0, 2])  # [P, B, H]
        uniforms_by_key = tf.transpose(uniforms, [1, 0, 2])  # [P, B, 2]

        def note_step(
            k: Any,
            note_state: list[Any],
            below: Any,
            sounding: Any,
            lls: Any,
            plays: Any,
            arts: Any,
        ) -> tuple[Any, ...]:
            x = tf.concat([by_key[k], below], axis=-1)
            out, note_state = _run_cells(note_cells, x, note_state)
            logit = dense(out) / temperature
            prob = tf.sigmoid(tf.cast(logit, tf.float32))
            allowed = _truncated_keys(prob, top_p)
            if argmax:
                pick = tf.cast(allowed >= 0.5, tf.float32)
            else:
                pick = tf.cast(uniforms_by_key[k] < allowed, tf.float32)
            if top_k:  # keys are drawn bottom-up: at most top_k sound per frame
                pick = pick * tf.cast(sounding < top_k, tf.float32)[:, None]
            play = pick[:, 0]
            art = pick[:, 1] * play  # only a sounding note can articulate
            ll = play * tf.math.log(prob[:, 0] + 1e-12) + (1 - play) * tf.math.log(
                1 - prob[:, 0] + 1e-12
            )
            return (
                k + 1,
                note_state,
                tf.stack([play, art], axis=-1),
                sounding + play,
                lls + ll,
                plays.write(k, play),
                arts.write(k, art),
            )

        start = (
            tf.constant(0),
            [tf.zeros([n, c.units]) for c in note_cells for _ in range(2)],
            tf.zeros([n, 2]),  # below the lowest key: (play, articulate) = 0
            tf.zeros([n]),  # keys sounding so far
            tf.zeros([n]),  # log-likelihood
            tf.TensorArray(tf.float32, size=p),
            tf.TensorArray(tf.float32, size=p),
        )
        *_, lls, plays, arts = tf.while_loop(lambda k, *_: k < p, note_step, start)
        return tf.transpose(plays.stack()), tf.transpose(arts.stack()), lls, time_state

    return frame_step


def _truncated_keys(prob: Any, top_p: float) -> Any:
    """``truncate_bernoulli``'s nucleus of each on/off draw, in TensorFlow."""
    import tensorflow as tf

    if top_p >= 1.0:
        return prob
    prob = tf.where((prob > 0.5) & (prob >= top_p), tf.ones_like(prob), prob)
    return tf.where((prob < 0.5) & (1.0 - prob >= top_p), tf.zeros_like(prob), prob)


def _row(frames: np.ndarray, onsets: np.ndarray) -> np.ndarray:
    return np.concatenate([frames, onsets], axis=1).astype(np.float32)


def _step_features(prev_frames: np.ndarray, prev_onsets: np.ndarray, t: int) -> np.ndarray:
    """Johnson's features of step ``t`` for every row, from frame ``t - 1`` ``[B, P]``."""
    out = []
    for frame, onset in zip(prev_frames.astype(bool), prev_onsets.astype(bool), strict=True):
        roll = PianoRoll(
            frames=np.stack([frame, np.zeros_like(frame)]),
            onsets=np.stack([onset & frame, np.zeros_like(frame)]),
            frame_times=np.arange(3, dtype=np.float64),
            steps_per_quarter=1,
        )
        feats = biaxial.features(roll)[1]
        feats[:, biaxial.BEAT_SLICE] = ((t % 16) >> np.arange(biaxial.BEAT_BITS)) & 1
        out.append(feats)
    return np.stack(out).astype(np.float32)


def _primer(
    primer: tuple[np.ndarray, np.ndarray] | None, num_pitches: int
) -> tuple[np.ndarray, np.ndarray]:
    if primer is None:
        silent = np.zeros((1, num_pitches), np.float32)
        return silent, silent
    frames, onsets = (np.asarray(a, np.float32) for a in primer)
    return frames, onsets


def _pieces(
    seeds: Sequence[int],
    frames: list[np.ndarray],
    onsets: list[np.ndarray],
    scores: np.ndarray,
    settings: RollSettings,
    min_pitch: int,
) -> list[GeneratedRoll]:
    stacked_frames = np.stack(frames, axis=1).astype(bool)
    stacked_onsets = np.stack(onsets, axis=1).astype(bool)
    out = []
    for i, seed in enumerate(seeds):
        f, o = stacked_frames[i], stacked_onsets[i]
        out.append(
            GeneratedRoll(seed, f, o, to_sequence(f, o, settings, min_pitch), float(scores[i]))
        )
    return out
