"""Batched piano-roll and biaxial generation with real (small) Keras models."""

from __future__ import annotations

import numpy as np
import pytest

from musicgen.generate.compiled_cache import generation_cache
from musicgen.generate.roll_generator import (
    RollSettings,
    generate_biaxial,
    generate_pianoroll,
)


@pytest.fixture(scope="module")
def models() -> dict[str, object]:
    import keras

    from musicgen.models.biaxial_lstm import BiaxialLSTM, example_inputs
    from musicgen.models.pianoroll_lstm import PianorollLSTM

    keras.utils.set_random_seed(2)
    biax = BiaxialLSTM(time_layers=(12,), note_layers=(8,), dropout=0.5)
    biax(example_inputs())
    return {"pianoroll": PianorollLSTM(layers=(16, 16)), "biaxial": biax}


def test_pianoroll_stepping_equals_the_full_model(models: dict) -> None:
    import tensorflow as tf

    model = models["pianoroll"]
    out = generate_pianoroll(model, RollSettings(num_frames=10), [3])[0]
    x = np.concatenate([out.frames, out.onsets], axis=1).astype(np.float32)[None]
    probs = tf.sigmoid(model(x)).numpy()[0]
    on = out.frames[1:]
    expected = np.where(on, np.log(probs[:-1] + 1e-12), np.log(1 - probs[:-1] + 1e-12)).sum()
    assert out.log_likelihood == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("family", ["pianoroll", "biaxial"])
def test_rows_depend_on_their_seed_only_and_decode(family: str, models: dict) -> None:
    gen = generate_pianoroll if family == "pianoroll" else generate_biaxial
    settings = RollSettings(num_frames=12, steps_per_quarter=2)
    batch = gen(models[family], settings, [7, 8])
    alone = gen(models[family], settings, [8])
    assert np.array_equal(batch[1].frames, alone[0].frames)
    for piece in batch:
        assert piece.frames.shape == (13, 88)  # the silent primer frame + 12
        assert not (piece.onsets & ~piece.frames).any()
        assert piece.sequence.total_time == pytest.approx(13 * 0.25)  # 120 qpm, 2 per quarter
        notes = piece.sequence.notes
        assert len(notes) >= np.count_nonzero(piece.onsets)  # every articulation starts a note
        assert all(21 <= n.pitch <= 108 for n in notes)


def test_biaxial_log_likelihood_matches_the_teacher_forced_model(models: dict) -> None:
    import tensorflow as tf

    from musicgen.encodings import biaxial
    from musicgen.encodings.pianoroll import PianoRoll

    model = models["biaxial"]
    piece = generate_biaxial(model, RollSettings(num_frames=6), [4])[0]
    roll = PianoRoll(piece.frames, piece.onsets, np.arange(len(piece.frames) + 1.0), 1)
    feats = biaxial.features(roll)[1:][None]
    targets = np.stack([piece.frames[1:], piece.onsets[1:]], axis=-1).astype(np.float32)[None]
    logits = model({"features": feats, "targets": targets}, training=False)
    p = tf.sigmoid(logits).numpy()[0, ..., 0]
    on = piece.frames[1:]
    expected = np.where(on, np.log(p + 1e-12), np.log(1 - p + 1e-12)).sum()
    assert piece.log_likelihood == pytest.approx(expected, rel=1e-3)


def test_top_k_caps_the_keys_of_a_frame_and_rows_keep_their_seed(models: dict) -> None:
    settings = RollSettings(num_frames=10, top_k=2, top_p=0.95)
    batch = generate_pianoroll(models["pianoroll"], settings, [4, 5])
    alone = generate_pianoroll(models["pianoroll"], settings, [5])
    assert np.array_equal(batch[1].frames, alone[0].frames)
    free = generate_pianoroll(models["pianoroll"], RollSettings(num_frames=10), [4])[0]
    assert free.frames[1:].sum(axis=1).max() > 2  # the untrained model is noisy...
    # (the biaxial model: one call, the cap only)
    capped = generate_biaxial(models["biaxial"], RollSettings(num_frames=6, top_k=2), [4])
    for piece in [*batch, *capped]:
        assert piece.frames[1:].sum(axis=1).max() <= 2  # ...but never sounds more than 2


def _traces(model: object) -> tuple[int, int]:
    """Compiled roll steps kept on the model, and how many times they have traced in all."""
    cache = generation_cache(model)["roll"]
    return len(cache), sum(fn.experimental_get_tracing_count() for fn in cache.values())


@pytest.mark.parametrize("family", ["pianoroll", "biaxial"])
def test_steps_are_traced_once_per_model_and_settings_for_any_batch(
    family: str, models: dict
) -> None:
    gen = generate_pianoroll if family == "pianoroll" else generate_biaxial
    model = models[family]
    settings = RollSettings(num_frames=3, temperature=0.9)
    gen(model, settings, [1, 2])
    entries, count = _traces(model)
    gen(model, settings, [3, 4])  # the same settings again: no tracing
    assert _traces(model) == (entries, count)
    gen(model, settings, [5])  # another batch size: the same step, generalized at most once...
    assert _traces(model)[0] == entries
    assert _traces(model)[1] <= count + 1
    general = _traces(model)
    gen(model, settings, [6, 7, 8])  # ...for every batch size after it
    assert _traces(model) == general
    gen(model, RollSettings(num_frames=3, temperature=0.5), [1])
    # The biaxial step holds its drawing settings (temperature here): a step of their own.
    assert _traces(model)[0] == entries + (family == "biaxial")
