"""Generation for the note encoding: one note per RNN step, Magenta's per-head sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musicgen.encodings import performance as perf
from musicgen.encodings.performance_configs import NOTE_NUM_CLASSES
from musicgen.errors import ConfigError
from musicgen.generate import note_generator
from musicgen.generate.performance_generator import (
    PerformanceSettings,
    PerformanceStepper,
    generate,
)
from musicgen.generate.sampling import SamplingSettings

CONFIG = "performance_with_dynamics_and_note_encoding"


@pytest.fixture(scope="module")
def model() -> object:
    import keras

    from musicgen.models.performance_rnn import PerformanceRNN

    keras.utils.set_random_seed(3)
    return PerformanceRNN(CONFIG, layers=(16,))


def test_stepping_note_rows_equals_the_full_model(model: object) -> None:
    config = model.performance_config  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    labels = np.stack([rng.integers(0, c, size=10) for c in NOTE_NUM_CLASSES], axis=1)
    notes = perf.note_labels_to_tuples(labels)
    full = np.asarray(model(perf.event_inputs(notes, config)[None].astype(np.float32)))[0]  # type: ignore[operator]
    stepper = PerformanceStepper(model, PerformanceSettings())
    state = stepper.zero_state(1)
    for t in range(10):
        logits, state = stepper.raw_step(
            stepper.input_rows(notes[t : t + 1], np.zeros(1, np.int64)), state
        )
        assert np.allclose(logits[0], full[t], atol=1e-5)


def test_pieces_reach_the_length_and_depend_on_their_seed_only(model: object) -> None:
    settings = PerformanceSettings(num_steps=300)
    together = generate(model, settings, [5, 6, 7])
    alone = generate(model, settings, [6])
    assert np.array_equal(together[1].events, alone[0].events)
    assert together[1].log_likelihood == pytest.approx(alone[0].log_likelihood, abs=1e-9)
    assert not np.array_equal(together[0].events, together[2].events)
    for g in together:
        assert g.events.shape == (g.num_generated, 4)  # the start note is not kept
        assert note_generator.note_length(g.events) >= 300
        assert note_generator.note_length(g.events[:-1]) < 300  # stopped at the first that did
        assert g.log_likelihood < 0
        seq = g.sequence
        assert len(seq.notes) == g.num_generated
        assert seq.total_time == pytest.approx(max(n.end_time for n in seq.notes))


def test_per_head_sampling_follows_the_softmax(model: object) -> None:
    # At a very low temperature every head takes its most likely class: argmax per head.
    cold = generate(model, PerformanceSettings(num_steps=200, sampling=SamplingSettings(
        temperature=1e-4)), [1])[0]  # fmt: skip
    argmax = generate(model, PerformanceSettings(num_steps=200, sampling=SamplingSettings(
        argmax=True)), [2])[0]  # fmt: skip
    assert np.array_equal(cold.events, argmax.events)


def test_a_primer_is_continued(golden_dir: Path, model: object) -> None:
    from musicgen.corpus.midi_fast import midi_to_note_sequence

    primer = midi_to_note_sequence((golden_dir / "midi" / "primer.mid").read_bytes())
    config = model.performance_config  # type: ignore[attr-defined]
    prime = note_generator.primer_notes(primer, config)
    assert len(prime) == len(primer.notes)
    out = generate(model, PerformanceSettings(num_steps=1000), [0], primer=primer)[0]
    assert np.array_equal(out.events[: len(prime)], prime)
    decoded = out.sequence
    assert [n.pitch for n in decoded.notes[: len(prime)]] == prime[:, 1].tolist()


def test_beam_search_is_refused_with_the_reason(model: object) -> None:
    beam = PerformanceSettings(num_steps=100, sampling=SamplingSettings(beam_size=2))
    assert note_generator.unsupported(beam)
    with pytest.raises(ConfigError, match=r"beam search .* not available for the note encoding"):
        generate(model, beam, [0])
