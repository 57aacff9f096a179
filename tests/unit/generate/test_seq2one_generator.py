"""Sliding-window generation with small real many-to-one LSTMs (both targets)."""

from __future__ import annotations

import numpy as np
import pytest

from musicgen.encodings.chords import OOV_ID, ChordVocabulary
from musicgen.generate.compiled_cache import generation_cache
from musicgen.generate.roll_generator import RollSettings
from musicgen.generate.sampling import log_softmax
from musicgen.generate.seq2one_generator import context, draw_keys, generate_seq2one

CHORDS = ((60, 64, 67), (57, 60, 64), (55, 59, 62, 65), (53, 57, 60), (48,), (62, 65, 69))
TARGETS = ["chord", "frame"]


@pytest.fixture(scope="module")
def models() -> dict[str, object]:
    import keras

    from musicgen.models.seq2one_lstm import Seq2OneLSTM

    keras.utils.set_random_seed(2)
    vocabulary = ChordVocabulary(chords=CHORDS, counts=tuple(range(len(CHORDS), 0, -1)))
    return {
        "chord": Seq2OneLSTM("chord", vocabulary.to_json(), window=3, embedding_dim=8,
                             layers=(16, 16), dense_size=8),
        "frame": Seq2OneLSTM("frame", window=3, layers=(16,), dense_size=8, threshold=0.3),
    }  # fmt: skip


def _traces(model: object) -> tuple[int, int]:
    cache = generation_cache(model)["roll"]
    return len(cache), sum(fn.experimental_get_tracing_count() for fn in cache.values())


def test_context_keeps_the_last_window_real_steps_first() -> None:
    history = [np.full((2, 1), i, np.float32) for i in range(1, 3)]
    rows, mask = context(history, 4)
    np.testing.assert_array_equal(rows[0, :, 0], [1, 2, 0, 0])
    np.testing.assert_array_equal(mask, [[1, 1, 0, 0]] * 2)
    history += [np.full((2, 1), i, np.float32) for i in range(3, 7)]
    rows, mask = context(history, 4)
    np.testing.assert_array_equal(rows[1, :, 0], [3, 4, 5, 6])
    assert mask.all()


@pytest.mark.parametrize("target", TARGETS)
def test_a_piece_depends_only_on_its_seed(models: dict, target: str) -> None:
    settings = RollSettings(num_frames=12, steps_per_quarter=2, temperature=1.3)
    batch = generate_seq2one(models[target], settings, [7, 8, 9])
    alone = generate_seq2one(models[target], settings, [8])
    assert np.array_equal(batch[1].frames, alone[0].frames)
    assert np.array_equal(batch[1].onsets, alone[0].onsets)
    assert batch[1].log_likelihood == pytest.approx(alone[0].log_likelihood, rel=1e-9)
    assert len({piece.frames.tobytes() for piece in batch}) > 1
    for piece in batch:
        assert piece.frames.shape == piece.onsets.shape == (13, 88)  # silent primer + 12
        assert not piece.frames[0].any()
        assert not (piece.onsets & ~piece.frames).any()
        struck = piece.frames[1:] & ~piece.frames[:-1]
        assert not (struck & ~piece.onsets[1:]).any()  # a note never continues from silence
        assert np.isfinite(piece.log_likelihood)
        assert piece.log_likelihood < 0


@pytest.mark.parametrize("target", TARGETS)
def test_argmax_is_deterministic_and_the_step_is_traced_once(models: dict, target: str) -> None:
    model = models[target]
    settings = RollSettings(num_frames=20, argmax=True)
    greedy = generate_seq2one(model, settings, [1, 2, 3], loop_window=0)
    assert all(np.array_equal(g.frames, greedy[0].frames) for g in greedy)  # seeds unused
    again = generate_seq2one(model, settings, [4], loop_window=0)
    np.testing.assert_array_equal(again[0].frames, greedy[0].frames)
    traced = _traces(model)
    generate_seq2one(model, settings, [5, 6, 7], loop_window=0)
    assert _traces(model) == traced  # one cached step, no new trace for a seen batch size


def test_chord_log_likelihood_matches_the_model_over_its_windows(models: dict) -> None:
    import tensorflow as tf

    from musicgen.models.seq2one_lstm import context_windows

    model = models["chord"]
    out = generate_seq2one(model, RollSettings(num_frames=10, temperature=0.8), [3])[0]
    ids = model.vocabulary.encode(out.frames)
    assert OOV_ID not in ids  # the OOV class is never drawn
    contexts, mask = context_windows(tf.constant(ids[None], tf.int32), model.window)
    logits = model({"context": contexts, "mask": mask}).numpy().astype(np.float64)
    logits[:, OOV_ID] = -1e9
    expected = log_softmax(logits, 0.8)[np.arange(10), ids[1:]].sum()
    assert out.log_likelihood == pytest.approx(expected, rel=1e-4)


def test_chord_primer_is_kept_and_continued(models: dict) -> None:
    vocabulary = models["chord"].vocabulary
    frames = vocabulary.decode([2, 3, 4, 5])
    out = generate_seq2one(models["chord"], RollSettings(num_frames=5), [0],
                           primer=(frames, frames.copy()))  # fmt: skip
    np.testing.assert_array_equal(out[0].frames[:4], frames)
    assert out[0].frames.shape == (9, 88)


def test_draw_keys_rules() -> None:
    # Row 0: key 0 likely struck, key 1 likely held, key 2 likely off; row 1: all even.
    logits = np.zeros((2, 3, 3))
    logits[0] = [[0, 3, 1], [0, 1, 3], [3, 0, 0]]
    probs = np.exp(log_softmax(logits))
    settings = RollSettings(argmax=True)
    classes, ll = draw_keys(logits, np.zeros((2, 3)), settings, threshold=0.5)
    np.testing.assert_array_equal(classes, [[1, 2, 0], [1, 1, 1]])  # even: P(on) = 2/3
    expected = np.log(probs[np.arange(2)[:, None], np.arange(3), classes]).sum(-1)
    np.testing.assert_allclose(ll, expected)
    # Sampling: the inverse CDF of (start, continue, off) with one uniform per key.
    uniforms = np.full((2, 3), 0.5)
    classes, _ = draw_keys(logits, uniforms, RollSettings(), threshold=0.5)
    np.testing.assert_array_equal(classes[1], [2, 2, 2])  # 1/3 <= 0.5 < 2/3: continue
    # top_k = 1: only the key likeliest to sound may sound.
    capped, _ = draw_keys(logits, np.zeros((2, 3)), RollSettings(top_k=1), threshold=0.5)
    assert ((capped > 0).sum(axis=-1) <= 1).all()


def test_frame_draws_follow_the_models_frequencies(models: dict) -> None:
    """Many seeds' first frame: each key sounds about as often as the model says."""
    model = models["frame"]
    settings = RollSettings(num_frames=1)
    pieces = generate_seq2one(model, settings, list(range(300)))
    rows, mask = context([np.zeros((1, 176), np.float32)], model.window)
    log_probs = log_softmax(np.asarray(model({"context": rows, "mask": mask}), np.float64))
    p_on = np.exp(log_probs[0, :, 1]) + np.exp(log_probs[0, :, 2])
    observed = np.mean([piece.frames[1] for piece in pieces], axis=0)
    assert np.abs(observed - p_on).max() < 0.12
