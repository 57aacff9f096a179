"""Batched PerformanceRNN generation with real (small) Keras models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musicgen.encodings import performance as perf
from musicgen.encodings.performance_configs import get_config
from musicgen.errors import ConfigError
from musicgen.generate.performance_generator import (
    NO_EVENT,
    PerformanceSettings,
    PerformanceStepper,
    decode,
    generate,
    primer_events,
)
from musicgen.generate.sampling import SamplingSettings


@pytest.fixture(scope="module")
def models() -> dict[str, object]:
    import keras

    from musicgen.models.performance_rnn import PerformanceRNN

    keras.utils.set_random_seed(1)
    return {
        "embedding": PerformanceRNN("performance_with_dynamics", layers=(32, 24),
                                    input_mode="embedding", embedding_dim=8),
        "one_hot": PerformanceRNN("performance", layers=(16,)),
        "multi": PerformanceRNN("optional_multiconditioned_performance_with_dynamics",
                                layers=(16,)),
    }  # fmt: skip


@pytest.mark.parametrize("kind", ["embedding", "one_hot"])
def test_stepping_the_cells_equals_the_full_model(kind: str, models: dict) -> None:
    model = models[kind]
    config = model.performance_config
    ids = np.random.default_rng(0).integers(0, config.num_event_classes, size=(3, 12))
    full = model(ids if kind == "embedding" else perf.event_inputs(ids.ravel(), config)
                 .reshape(3, 12, -1).astype(np.float32))  # fmt: skip
    stepper = PerformanceStepper(model, PerformanceSettings())
    state = stepper.zero_state(3)
    for t in range(12):
        logits, state = stepper.raw_step(stepper.input_rows(ids[:, t], np.zeros(3, int)), state)
        assert np.allclose(logits, np.asarray(full)[:, t], atol=1e-5)


def test_every_sample_reaches_the_length_and_depends_on_its_seed_only(models: dict) -> None:
    model = models["embedding"]
    settings = PerformanceSettings(num_steps=400)
    batch = generate(model, settings, [11, 12, 13])
    alone = generate(model, settings, [12])
    assert np.array_equal(batch[1].events, alone[0].events)
    assert not np.array_equal(batch[0].events, batch[1].events)
    for g in batch:
        assert g.events[0] == NO_EVENT  # Magenta's empty primer: 1 s of silence
        assert perf.num_steps(g.events) >= 400
        assert g.sequence.total_time <= 4.0 + 1e-9  # set_length(num_steps)
        assert all(n.end_time - n.start_time <= 5.0 + 1e-9 for n in g.sequence.notes)
        assert g.log_likelihood < 0


def test_conditioned_configs_need_their_controls_and_honour_disable(models: dict) -> None:
    model = models["multi"]
    with pytest.raises(ConfigError, match="notes_per_second"):
        generate(model, PerformanceSettings(num_steps=100), [1])
    hist = (1.0, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1)
    out = generate(
        model, PerformanceSettings(num_steps=200, notes_per_second=(2.0, 8.0),
                                   pitch_class_histogram=hist), [1, 2]
    )  # fmt: skip
    assert all(perf.num_steps(g.events) >= 200 for g in out)
    off = generate(model, PerformanceSettings(num_steps=200, disable_conditioning=True), [1])
    assert perf.num_steps(off[0].events) >= 200


def test_controls_follow_the_clock_piecewise(models: dict) -> None:
    from musicgen.generate.performance_generator import ControlSchedule

    config = get_config("density_conditioned_performance_with_dynamics")
    schedule = ControlSchedule(
        config, PerformanceSettings(num_steps=100, notes_per_second=(1.5, 20.0))
    )
    rows = schedule.rows(np.array([0, 49, 50, 99]))
    assert rows.argmax(axis=1).tolist() == [1, 1, 5, 5]  # density bins of 1.5 and 20 notes/s


def test_beam_search_and_argmax_generate(models: dict) -> None:
    model = models["embedding"]
    sampling = SamplingSettings(beam_size=2, branch_factor=2, steps_per_iteration=8)
    beam = generate(model, PerformanceSettings(num_steps=200, sampling=sampling), [5])[0]
    assert beam.num_generated == 4 * 15 * 1  # Magenta's single request for 1 s left
    greedy = generate(
        model, PerformanceSettings(num_steps=200, sampling=SamplingSettings(argmax=True)), [5, 6]
    )
    assert len(greedy) == 2


def test_primer_from_a_real_midi_file(golden_dir: Path, models: dict) -> None:
    from musicgen.corpus.midi_fast import midi_to_note_sequence

    ns = midi_to_note_sequence((golden_dir / "midi" / "primer.mid").read_bytes())
    config = get_config("performance_with_dynamics")
    events = primer_events(ns, config)
    assert perf.num_steps(events) == round(ns.total_time * 100)
    decoded = decode(events, config, PerformanceSettings(num_steps=perf.num_steps(events)))
    assert [n.pitch for n in decoded.notes] == [
        n.pitch for n in sorted(ns.notes, key=lambda n: (n.start_time, n.pitch))
    ]
    out = generate(
        models["embedding"],
        PerformanceSettings(num_steps=perf.num_steps(events) + 300),
        [1],
        primer=ns,
    )
    assert np.array_equal(out[0].events[: len(events)], events)
    assert primer_events(None, config).tolist() == [NO_EVENT]


def test_fused_top_k_and_nucleus_match_numpy_and_keep_seeds(models: dict) -> None:
    import tensorflow as tf

    from musicgen.generate.fused_sampling import truncated
    from musicgen.generate.sampling import log_softmax, truncate

    logits = np.random.default_rng(3).normal(size=(5, 40)) * 2
    logp = log_softmax(logits)
    for k, p in ((1, 1.0), (7, 1.0), (0, 0.5), (0, 0.9), (10, 0.8)):
        kept_tf = np.isfinite(truncated(tf.constant(logp, tf.float32), k, p).numpy())
        assert np.array_equal(kept_tf, np.isfinite(truncate(logp, k, p))), (k, p)
    model = models["embedding"]
    # top-k 1 and a tiny nucleus are greedy decoding: the compiled sampler (plain sampling)
    # must then equal argmax without loop-breaking (the numpy path).
    greedy = generate(model, PerformanceSettings(
        num_steps=300, sampling=SamplingSettings(argmax=True, loop_window=0)), [1])[0]  # fmt: skip
    for sampling in (SamplingSettings(top_k=1), SamplingSettings(top_p=1e-6)):
        out = generate(model, PerformanceSettings(num_steps=300, sampling=sampling), [1, 2])
        assert np.array_equal(out[0].events, greedy.events)
        assert np.array_equal(out[1].events, greedy.events)
    nucleus = PerformanceSettings(num_steps=300, sampling=SamplingSettings(top_k=20, top_p=0.9))
    batch, alone = generate(model, nucleus, [5, 6]), generate(model, nucleus, [6])
    assert np.array_equal(batch[1].events, alone[0].events)  # still a function of the seed
