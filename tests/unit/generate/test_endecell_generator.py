"""EnDeCell generation with real tiny models: seeds, shapes, the teacher-forced model's
likelihood, argmax, top-k and the compiled-step cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musicgen.generate.compiled_cache import generation_cache
from musicgen.generate.endecell_generator import generate_endecell
from musicgen.generate.roll_generator import RollSettings

P = 88


@pytest.fixture(scope="module")
def models() -> dict[int, object]:
    import keras

    from musicgen.models.endecell import EnDeCell, example_inputs

    out = {}
    for chunk in (1, 4):
        keras.utils.set_random_seed(chunk)
        model = EnDeCell(encoder_size=8, time_layers=(12, 8), decoder_size=8, key_chunk=chunk)
        model(example_inputs())
        out[chunk] = model
    return out


def _teacher_forced_probs(model: object, frames: np.ndarray, onsets: np.ndarray) -> np.ndarray:
    """The full model's probabilities of frames 1.. of a piece, teacher forced."""
    import tensorflow as tf

    rows = np.concatenate([frames[:-1], onsets[:-1]], axis=1).astype(np.float32)[None]
    targets = frames[1:].astype(np.float32)[None]
    return tf.sigmoid(model({"rows": rows, "targets": targets})).numpy()[0]  # type: ignore[operator]


@pytest.mark.parametrize("chunk", [1, 4])
def test_rows_depend_on_their_seed_only_and_decode(chunk: int, models: dict) -> None:
    settings = RollSettings(num_frames=10, steps_per_quarter=2)
    batch = generate_endecell(models[chunk], settings, [7, 8, 9])
    alone = generate_endecell(models[chunk], settings, [8])
    assert np.array_equal(batch[1].frames, alone[0].frames)
    assert np.array_equal(batch[1].onsets, alone[0].onsets)
    assert batch[1].log_likelihood == pytest.approx(alone[0].log_likelihood, rel=1e-5)
    assert not np.array_equal(batch[0].frames, batch[1].frames)
    for piece in batch:
        assert piece.frames.shape == piece.onsets.shape == (11, P)  # silent primer + 10
        assert not piece.frames[0].any()
        assert not (piece.onsets & ~piece.frames).any()
        assert piece.sequence.total_time == pytest.approx(11 * 0.25)  # 120 qpm, 2 per quarter
        assert all(21 <= n.pitch <= 108 for n in piece.sequence.notes)


@pytest.mark.parametrize("chunk", [1, 4])
def test_log_likelihood_is_the_teacher_forced_models(chunk: int, models: dict) -> None:
    model = models[chunk]
    piece = generate_endecell(model, RollSettings(num_frames=6), [4])[0]
    p = _teacher_forced_probs(model, piece.frames, piece.onsets)
    on = piece.frames[1:]
    expected = np.where(on, np.log(p + 1e-12), np.log(1 - p + 1e-12)).sum()
    assert piece.log_likelihood == pytest.approx(expected, rel=1e-4)


def test_argmax_is_deterministic_and_thresholds_at_the_models_threshold(models: dict) -> None:
    model = models[1]
    settings = RollSettings(num_frames=6, argmax=True)
    first, second = generate_endecell(model, settings, [1, 2])
    assert np.array_equal(first.frames, second.frames)
    p = _teacher_forced_probs(model, first.frames, first.onsets)
    np.testing.assert_array_equal(first.frames[1:], p >= model.threshold)


def test_primer_frames_are_kept_and_fed(models: dict) -> None:
    rng = np.random.default_rng(0)
    frames = (rng.random((3, P)) < 0.1).astype(np.float32)
    onsets = frames.copy()
    piece = generate_endecell(models[4], RollSettings(num_frames=4), [5], (frames, onsets))[0]
    assert piece.frames.shape == (7, P)
    np.testing.assert_array_equal(piece.frames[:3], frames.astype(bool))
    p = _teacher_forced_probs(models[4], piece.frames, piece.onsets)[2:]  # drawn frames only
    on = piece.frames[3:]
    expected = np.where(on, np.log(p + 1e-12), np.log(1 - p + 1e-12)).sum()
    assert piece.log_likelihood == pytest.approx(expected, rel=1e-4)


def test_top_k_caps_keys_and_steps_are_compiled_once(models: dict) -> None:
    model = models[4]
    capped = generate_endecell(model, RollSettings(num_frames=5, top_k=3, top_p=0.9), [3, 4])
    assert capped[0].frames.sum(axis=1).max() <= 3
    free = generate_endecell(model, RollSettings(num_frames=5), [3])[0]
    assert free.frames.sum(axis=1).max() > 3
    compiled = dict(generation_cache(model)["roll"])
    assert set(compiled) == {("endecell_advance",), ("endecell_draw",)}
    generate_endecell(model, RollSettings(num_frames=3, temperature=0.5, argmax=True), [9, 1])
    cache = generation_cache(model)["roll"]
    assert all(cache[key] is fn for key, fn in compiled.items())
    assert all(fn.experimental_get_tracing_count() <= 2 for fn in cache.values())


@pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
def test_a_reloaded_model_generates_the_same_piece(models: dict, tmp_path: Path) -> None:
    import keras

    from musicgen.models.endecell import EndecellFamily

    models[4].save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(
        tmp_path / "model.keras", custom_objects=EndecellFamily().custom_objects()
    )
    settings = RollSettings(num_frames=5)
    want = generate_endecell(models[4], settings, [11])[0]
    got = generate_endecell(loaded, settings, [11])[0]
    np.testing.assert_array_equal(got.frames, want.frames)
    assert got.log_likelihood == pytest.approx(want.log_likelihood, rel=1e-6)
