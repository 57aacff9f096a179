"""Batched chord-LSTM and seq2seq-LSTM generation with real (small) Keras models."""

from __future__ import annotations

import numpy as np
import pytest

from musicgen.encodings.chords import OOV_ID, ChordVocabulary
from musicgen.generate.compiled_cache import generation_cache
from musicgen.generate.roll_generator import RollSettings, generate_chords, generate_seq2seq

CHORDS = ((60, 64, 67), (57, 60, 64), (55, 59, 62, 65), (53, 57, 60), (48,), (62, 65, 69))


@pytest.fixture(scope="module")
def models() -> dict[str, object]:
    import keras

    from musicgen.models.chord_lstm import ChordLSTM
    from musicgen.models.seq2seq_lstm import Seq2SeqLSTM

    keras.utils.set_random_seed(2)
    vocabulary = ChordVocabulary(chords=CHORDS, counts=tuple(range(len(CHORDS), 0, -1)))
    return {
        "chord": ChordLSTM(vocabulary.to_json(), embedding_dim=8, layers=(16, 16)),
        "seq2seq": Seq2SeqLSTM(window=4, layers=(16, 12), dropout=0.3),
    }


def test_chord_log_likelihood_matches_the_full_model_and_frames_decode(models: dict) -> None:
    import tensorflow as tf

    from musicgen.generate.sampling import log_softmax

    model = models["chord"]
    out = generate_chords(model, RollSettings(num_frames=10, temperature=0.8), [3])[0]
    assert out.frames.shape == (11, 88)  # the silent primer frame + 10
    ids = model.vocabulary.encode(out.frames)
    assert OOV_ID not in ids  # the OOV class is never drawn
    logits = model(tf.constant(ids[None, :-1], tf.int32)).numpy()[0].astype(np.float64)
    logits[:, OOV_ID] = -1e9
    expected = log_softmax(logits, 0.8)[np.arange(10), ids[1:]].sum()
    assert out.log_likelihood == pytest.approx(expected, rel=1e-4)
    np.testing.assert_array_equal(out.onsets[1:], out.frames[1:] & ~out.frames[:-1])


def test_chord_rows_depend_on_their_seed_only(models: dict) -> None:
    settings = RollSettings(num_frames=12, steps_per_quarter=2)
    batch = generate_chords(models["chord"], settings, [7, 8])
    alone = generate_chords(models["chord"], settings, [8])
    assert np.array_equal(batch[1].frames, alone[0].frames)
    assert batch[0].sequence.total_time > 0


def test_argmax_breaks_loops_by_sampling(models: dict) -> None:
    model = models["chord"]
    settings = RollSettings(num_frames=40, argmax=True)
    seeds = [1, 2, 3, 4]
    greedy = generate_chords(model, settings, seeds, loop_window=0)
    assert all(np.array_equal(g.frames, greedy[0].frames) for g in greedy)  # seeds unused
    ids = model.vocabulary.encode(greedy[0].frames).tolist()
    runs = [tuple(ids[i : i + 3]) for i in range(len(ids) - 2)]
    assert len(set(runs)) < len(runs)  # an untrained argmax loops
    broken = generate_chords(model, settings, seeds, loop_window=3)
    assert len({g.frames.tobytes() for g in broken}) > 1  # loop-breaking draws per seed
    # Until the first repeat the loop-breaker is plain argmax.
    first = next(i for i in range(len(runs)) if runs[i] in runs[:i])
    np.testing.assert_array_equal(broken[0].frames[: first + 3], greedy[0].frames[: first + 3])


def test_chord_primer_is_kept_and_continued(models: dict) -> None:
    vocabulary = models["chord"].vocabulary
    frames = vocabulary.decode([2, 3, 4])
    onsets = frames.copy()
    out = generate_chords(models["chord"], RollSettings(num_frames=5), [0], primer=(frames, onsets))
    np.testing.assert_array_equal(out[0].frames[:3], frames)
    assert out[0].frames.shape == (8, 88)


def test_seq2seq_log_likelihood_matches_the_teacher_forced_model(models: dict) -> None:
    import tensorflow as tf

    from musicgen.models.registry import get_family

    model = models["seq2seq"]
    settings = RollSettings(num_frames=10)  # 11 frames: three chunks of 4
    piece = generate_seq2seq(model, settings, [4])[0]
    assert piece.frames.shape == (11, 88)
    assert not piece.frames[0].any()
    batch = {
        "frames": tf.constant(piece.frames[None], tf.float32),
        "onsets": tf.constant(piece.onsets[None], tf.float32),
        "mask": tf.ones([1, 11]),
    }
    stats = get_family("seq2seq_lstm").batch_stats(model, batch, training=False)
    assert float(stats["nll_weight"]) == 10
    assert piece.log_likelihood == pytest.approx(-float(stats["nll_sum"]), rel=1e-4)
    np.testing.assert_array_equal(piece.onsets[1:], piece.frames[1:] & ~piece.frames[:-1])


def test_seq2seq_rows_depend_on_their_seed_only_and_argmax_uses_the_threshold(
    models: dict,
) -> None:
    model = models["seq2seq"]
    settings = RollSettings(num_frames=9, steps_per_quarter=2)
    batch = generate_seq2seq(model, settings, [7, 8])
    alone = generate_seq2seq(model, settings, [8])
    assert np.array_equal(batch[1].frames, alone[0].frames)
    assert batch[0].sequence.total_time == pytest.approx(10 * 0.25)
    greedy = RollSettings(num_frames=6, argmax=True)
    low, high = model.threshold, None
    try:
        model.threshold = 1e-6  # every key is on
        high = generate_seq2seq(model, greedy, [1])[0]
    finally:
        model.threshold = low
    assert high.frames[1:].all()


def test_seq2seq_primer_longer_than_a_chunk(models: dict) -> None:
    rng = np.random.default_rng(0)
    frames = rng.random((6, 88)) < 0.05
    onsets = frames.copy()
    out = generate_seq2seq(models["seq2seq"], RollSettings(num_frames=3), [5], (frames, onsets))
    np.testing.assert_array_equal(out[0].frames[:6], frames)
    assert out[0].frames.shape == (9, 88)


def test_chord_top_k_draws_only_the_likeliest_chords(models: dict) -> None:
    # Top-1 sampling is greedy decoding, for every seed.
    model = models["chord"]
    greedy = generate_chords(model, RollSettings(num_frames=8, argmax=True), [1], loop_window=0)
    top1 = generate_chords(model, RollSettings(num_frames=8, top_k=1), [1, 2], loop_window=0)
    for piece in top1:
        assert np.array_equal(piece.frames, greedy[0].frames)


@pytest.mark.parametrize("family", ["chord", "seq2seq"])
def test_steps_are_kept_on_the_model_and_not_traced_again(family: str, models: dict) -> None:
    gen = generate_chords if family == "chord" else generate_seq2seq
    model = models[family]

    def traces() -> dict[object, int]:
        cache = generation_cache(model)["roll"]
        return {key: fn.experimental_get_tracing_count() for key, fn in cache.items()}

    gen(model, RollSettings(num_frames=5), [1, 2])
    gen(model, RollSettings(num_frames=5), [3])  # a second batch size generalizes the shapes
    before = traces()
    gen(model, RollSettings(num_frames=7, temperature=0.5), [4, 5, 6])
    assert traces() == before
