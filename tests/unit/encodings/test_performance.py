"""Encodings: equality with note_seq, round trips on the golden inputs, and Magenta's quirks."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from note_seq import encoder_decoder, performance_controls, performance_lib, sequences_lib
from note_seq import performance_encoder_decoder as ped
from note_seq.protobuf import music_pb2

from musicgen.encodings import augment
from musicgen.encodings import performance as perf
from musicgen.encodings import performance_controls as controls
from musicgen.encodings.performance_configs import CONFIGS, Encoding, get_config
from musicgen.storage.tfrecord import read_records

NoteSequence = music_pb2.NoteSequence


@pytest.fixture(scope="module")
def golden_sequences(golden_dir: Path) -> list[NoteSequence]:
    data = (golden_dir / "notesequences.tfrecord").read_bytes()
    return [NoteSequence.FromString(r) for r in read_records(data)]


@pytest.fixture(scope="module")
def chunks(golden_sequences: list[NoteSequence]) -> list[NoteSequence]:
    """Quantized one-program chunks of the golden inputs, plain and stretched by 1.05."""
    out = []
    for ns in golden_sequences:
        sustained = augment.apply_sustain(ns)
        for factor in (1.0, 1.05):
            for chunk in augment.split(augment.stretch(sustained, factor)):
                q = augment.quantize(chunk)
                if len({n.program for n in q.notes}) == 1:
                    out.append(q)
    return out


def _seq(notes: list[tuple[int, float, float, int]], **kw: object) -> NoteSequence:
    ns = NoteSequence()
    for pitch, start, end, velocity in notes:
        ns.notes.add(pitch=pitch, start_time=start, end_time=end, velocity=velocity, **kw)
    ns.total_time = max((n.end_time for n in ns.notes), default=0.0)
    return ns


# --- equality with note_seq ------------------------------------------------------------------


@pytest.mark.parametrize("bins", [0, 32])
def test_ids_equal_note_seq_performance(chunks: list[NoteSequence], bins: int) -> None:
    for q in chunks:
        ref = performance_lib.Performance(q, start_step=0, num_velocity_bins=bins)
        assert perf.performance_ids(q, bins).tolist() == perf.performance_to_ids(ref).tolist()
        assert perf.num_steps(perf.performance_ids(q, bins)) == ref.num_steps


def test_note_tuples_equal_note_seq_note_performance(chunks: list[NoteSequence]) -> None:
    enc = ped.NotePerformanceEventSequenceEncoderDecoder(num_velocity_bins=32)
    for q in chunks:
        ref = performance_lib.NotePerformance(q, num_velocity_bins=32, instrument=None)
        tuples = perf.note_performance_tuples(q, 32)
        want = [[e.event_value for e in event] for event in ref]
        assert tuples.tolist() == want
        labels = [list(enc.events_to_label(list(ref), i)) for i in range(len(ref))]
        assert perf.note_labels(tuples).tolist() == labels


def test_controls_equal_note_seq(chunks: list[NoteSequence]) -> None:
    density = performance_controls.NoteDensityPerformanceControlSignal(
        window_size_seconds=3.0, density_bin_ranges=[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    )
    histogram = performance_controls.PitchHistogramPerformanceControlSignal(5.0)
    for q in chunks[:12]:
        ref = performance_lib.Performance(q, num_velocity_bins=32)
        ref.truncate(512)
        ids = perf.performance_to_ids(ref)
        assert controls.note_density(ids) == density.extract(ref)
        assert controls.pitch_histogram(ids) == histogram.extract(ref)


def test_config_sizes_match_note_seq_encoders() -> None:
    one_hot = ped.PerformanceOneHotEncoding(num_velocity_bins=32)
    assert get_config("performance").input_size == 356
    assert get_config("performance_with_dynamics").num_classes == one_hot.num_classes == 388
    note = ped.NotePerformanceEventSequenceEncoderDecoder(num_velocity_bins=32)
    assert get_config("performance_with_dynamics_and_note_encoding").input_size == note.input_size
    assert (
        tuple(note.num_classes)
        == CONFIGS["performance_with_dynamics_and_note_encoding"].num_classes
    )
    modulo = ped.ModuloPerformanceEventSequenceEncoderDecoder(num_velocity_bins=32)
    assert get_config("performance_with_dynamics_and_modulo_encoding").input_size == 16
    assert modulo.input_size == 16
    sizes = {name: c.input_size for name, c in CONFIGS.items()}
    assert sizes["performance_with_dynamics_compact"] == 1
    assert sizes["density_conditioned_performance_with_dynamics"] == 396
    assert sizes["pitch_conditioned_performance_with_dynamics"] == 400
    assert sizes["multiconditioned_performance_with_dynamics"] == 408
    assert sizes["optional_multiconditioned_performance_with_dynamics"] == 409
    with pytest.raises(KeyError, match="known"):
        get_config("nope")


def test_one_hot_inputs_equal_note_seq_encoder(chunks: list[NoteSequence]) -> None:
    config = get_config("performance_with_dynamics")
    enc = encoder_decoder.OneHotEventSequenceEncoderDecoder(
        ped.PerformanceOneHotEncoding(num_velocity_bins=32)
    )
    ids = perf.performance_ids(chunks[0], 32)[:40]
    events = [perf.id_to_event(i) for i in ids.tolist()]
    inputs, labels = enc.encode(events)
    ours = augment.encode_events(ids, config)
    assert len(ours) == 1
    np.testing.assert_array_equal(ours[0][0], np.array(inputs))
    assert ours[0][1].tolist() == labels


# --- round trips -----------------------------------------------------------------------------


def _notes(q: NoteSequence, bins: int) -> list[tuple[int, int, int, int]]:
    vbin = [perf.velocity_to_bin(n.velocity, bins) if bins else 0 for n in q.notes]
    return sorted(
        (n.pitch, n.quantized_start_step, n.quantized_end_step, b)
        for n, b in zip(q.notes, vbin, strict=True)
    )


@pytest.mark.parametrize("name", ["performance", "performance_with_dynamics"])
def test_ids_decode_reencode_round_trip(chunks: list[NoteSequence], name: str) -> None:
    """ids -> events -> NoteSequence -> ids.

    Exact for every decoded (canonical) sequence. Raw ids keep their notes, and are equal
    except where two onsets share a step out of pitch order: extraction orders them by raw
    seconds, which decoding cannot recover (it puts them at the same time, then pitch order).
    """
    bins = get_config(name).num_velocity_bins
    exact = 0
    for q in chunks:
        ids = perf.performance_ids(q, bins)
        events = [perf.id_to_event(i) for i in ids.tolist()]
        assert [perf.event_to_id(e) for e in events] == ids.tolist()
        decoded = perf.quantized_for_ids(perf.decode_ids(ids, bins))
        assert _notes(decoded, bins) == _notes(q, bins)
        again = perf.performance_ids(decoded, bins)
        exact += again.tolist() == ids.tolist()
        canonical = perf.quantized_for_ids(perf.decode_ids(again, bins))
        assert perf.performance_ids(canonical, bins).tolist() == again.tolist()
    assert exact >= len(chunks) - 8  # the golden inputs have 4 such chunks per stretch


def test_note_tuples_decode_reencode_round_trip(chunks: list[NoteSequence]) -> None:
    for q in chunks:
        tuples = perf.note_performance_tuples(q, 32)
        labels = perf.note_labels(tuples)
        assert perf.note_labels_to_tuples(labels).tolist() == tuples.tolist()
        decoded = perf.quantized_for_ids(perf.decode_note_tuples(tuples, 32))
        assert _notes(decoded, 32) == _notes(q, 32)
        again = perf.note_performance_tuples(decoded, 32)
        canonical = perf.quantized_for_ids(perf.decode_note_tuples(again, 32))
        assert perf.note_performance_tuples(canonical, 32).tolist() == again.tolist()


# --- quirks ----------------------------------------------------------------------------------


def test_quantize_rounds_half_up_in_float64() -> None:
    ns = _seq([(60, 0.005, 0.015, 80), (62, 0.025, 0.025, 80), (64, 1.235, 2.0, 80)])
    q = augment.quantize(ns)
    steps = [(n.quantized_start_step, n.quantized_end_step) for n in q.notes]
    # 0.005 -> 1 (half up, not banker's 0); 0.015*100 = 1.4999... -> 1; 0.025*100 = 2.5 -> 3
    assert steps[0] == (int(0.005 * 100 + 0.5), int(0.015 * 100 + 0.5)) == (1, 1 + 1)
    assert steps[1] == (3, 4)  # zero length gets one step
    assert steps[2] == (int(1.235 * 100 + 0.5), 200)
    assert not ns.HasField("quantization_info")  # argument untouched


def test_velocity_bins() -> None:
    assert perf.velocity_bin_size(32) == 4
    assert [perf.velocity_to_bin(v, 32) for v in (1, 4, 5, 124, 125, 127)] == [1, 1, 2, 31, 32, 32]
    assert [perf.velocity_bin_to_velocity(b, 32) for b in (1, 2, 32)] == [1, 5, 125]


def test_time_shift_split_at_100_and_first_velocity() -> None:
    q = augment.quantize(_seq([(60, 1.0, 2.0, 100), (61, 4.5, 4.6, 100)]))
    events = perf.ids_to_strings(perf.performance_ids(q, 32))
    assert events == [
        "TIME_SHIFT:100", "VELOCITY:25", "NOTE_ON:60", "TIME_SHIFT:100", "NOTE_OFF:60",
        "TIME_SHIFT:100", "TIME_SHIFT:100", "TIME_SHIFT:50", "NOTE_ON:61", "TIME_SHIFT:10",
        "NOTE_OFF:61",
    ]  # fmt: skip


def test_ties_ordered_by_raw_start_then_offsets_first() -> None:
    # 70 and 65 both start at step 1; 70 starts earlier in raw seconds, so it comes first,
    # and the offset of the earlier note 60 at step 1 precedes both onsets.
    q = augment.quantize(_seq([(60, 0.0, 0.012, 9), (70, 0.006, 0.02, 9), (65, 0.009, 0.02, 9)]))
    events = perf.ids_to_strings(perf.performance_ids(q, 0))
    assert events == [
        "NOTE_ON:60", "TIME_SHIFT:1", "NOTE_OFF:60", "NOTE_ON:70", "NOTE_ON:65",
        "TIME_SHIFT:1", "NOTE_OFF:70", "NOTE_OFF:65",
    ]  # fmt: skip


def test_transpose_drops_out_of_range_amounts_and_keeps_drums() -> None:
    ns = _seq([(126, 0.0, 1.0, 80)])
    ns.notes.add(pitch=127, start_time=0.0, end_time=1.0, velocity=80, is_drum=True)
    assert augment.transpose(ns, 2) is None
    up = augment.transpose(ns, 1)
    assert up is not None
    assert [n.pitch for n in up.notes] == [127, 127]
    assert [n.pitch for n in ns.notes] == [126, 127]  # argument untouched
    low = _seq([(1, 0.0, 1.0, 80)])
    assert augment.transpose(low, -2) is None
    assert augment.transpose(low, 0) is not None


def _long_seq(num_notes: int, program: int = 0, is_drum: bool = False) -> NoteSequence:
    ns = NoteSequence()
    for i in range(num_notes):
        ns.notes.add(
            pitch=60 + i % 12, start_time=i * 0.2, end_time=i * 0.2 + 0.15, velocity=90,
            program=program, is_drum=is_drum,
        )  # fmt: skip
    ns.total_time = ns.notes[-1].end_time
    return ns


def test_drum_only_chunks_are_kept_and_not_transposed() -> None:
    stats: Counter[str] = Counter()
    drums = _long_seq(20, is_drum=True)
    examples = list(augment.magenta_pipeline(drums, get_config("performance"), True, stats))
    assert len(examples) == 35
    for i in range(0, 35, 7):  # 5 stretches x 7 identical copies
        group = examples[i : i + 7]
        assert {e.stretch_factor for e in group} == {group[0].stretch_factor}
        assert [e.transpose for e in group] == list(range(-3, 4))
        assert all(np.array_equal(e.events, group[0].events) for e in group)
    assert stats["DAGPipeline_TranspositionPipeline_training_transpositions_generated"] == 35


def test_more_than_one_program_discarded_drums_count() -> None:
    ns = _long_seq(20)
    ns.notes.add(pitch=36, start_time=0.0, end_time=0.1, velocity=90, program=0, is_drum=True)
    ns.notes.add(pitch=40, start_time=0.0, end_time=0.1, velocity=90, program=1)
    stats: Counter[str] = Counter()
    assert list(augment.magenta_pipeline(ns, get_config("performance"), False, stats)) == []
    key = "DAGPipeline_PerformanceExtractor_eval_performances_discarded_more_than_1_program"
    assert stats[key] == 1


def test_truncate_to_512_and_discard_below_32() -> None:
    stats: Counter[str] = Counter()
    config = get_config("performance_with_dynamics")
    long = list(augment.magenta_pipeline(_long_seq(140), config, False, stats))
    assert [len(e.events) for e in long] == [512]
    assert long[0].inputs.shape == (511, 388)
    assert stats["DAGPipeline_PerformanceExtractor_eval_performances_truncated"] == 1
    short = list(augment.magenta_pipeline(_long_seq(7), config, False, stats))
    assert short == []
    assert stats["DAGPipeline_PerformanceExtractor_eval_performances_discarded_too_short"] == 1


def test_no_notes_yields_nothing() -> None:
    stats: Counter[str] = Counter()
    assert list(augment.magenta_pipeline(NoteSequence(), get_config("performance"), True)) == []
    assert (
        list(augment.magenta_pipeline(NoteSequence(), get_config("performance"), False, stats))
        == []
    )
    assert stats["DAGPipeline_RandomPartition_eval_performances_count"] == 1
    assert stats["DAGPipeline_TranspositionPipeline_eval_transpositions_generated"] == 0


def test_note_encoding_discards_long_shifts_and_durations() -> None:
    stats: Counter[str] = Counter()
    config = get_config("performance_with_dynamics_and_note_encoding")
    ns = _long_seq(40)
    ns.notes[5].end_time = 12.0
    ns.total_time = 12.0
    q = augment.quantize(ns)
    assert augment.extract_events(q, config, stats) is None
    assert stats["performance_discarded_too_many_duration_steps"] == 1
    gap = _seq([(60, 0.0, 0.1, 80), (62, 10.5, 10.6, 80)])
    assert augment.extract_events(augment.quantize(gap), config, stats) is None
    assert stats["performance_discarded_too_many_time_shift_steps"] == 1


def test_pipeline_does_not_mutate_input(golden_sequences: list[NoteSequence]) -> None:
    ns = golden_sequences[4]
    before = ns.SerializeToString()
    for _ in augment.magenta_pipeline(ns, get_config("performance_with_dynamics"), True):
        pass
    assert ns.SerializeToString() == before


def test_optional_conditioning_writes_both_variants() -> None:
    config = get_config("optional_multiconditioned_performance_with_dynamics")
    examples = list(augment.magenta_pipeline(_long_seq(30), config, False))
    assert [e.conditioned for e in examples] == [True, False]
    on, off = examples
    assert on.inputs.shape == off.inputs.shape == (len(on.events) - 1, 409)
    assert np.all(on.inputs[:, 0] == 0.0)
    assert np.all(off.inputs[:, 0] == 1.0)
    assert np.all(off.inputs[:, 1:21] == 0.0)
    np.testing.assert_array_equal(on.inputs[:, 21:], off.inputs[:, 21:])


def test_split_uses_stretched_time_and_sustain_extends() -> None:
    ns = _seq([(60, 0.0, 0.5, 80), (62, 29.0, 29.5, 80)])
    ns.control_changes.add(time=0.1, control_number=64, control_value=127)
    ns.control_changes.add(time=31.0, control_number=64, control_value=0)
    sustained = augment.apply_sustain(ns)
    assert sustained.total_time == pytest.approx(31.0)
    # Split at 30 s of the sustain-extended total; the held note is clipped, its tail lost,
    # leaving an empty second chunk.
    assert [c.total_time for c in augment.split(sustained)] == [30.0, 0.0]
    stretched = augment.stretch(ns, 1.05)
    assert stretched.notes[1].start_time == pytest.approx(29.0 * 1.05)
    assert ns.notes[1].start_time == 29.0
    assert len(augment.split(augment.stretch(_seq([(60, 0.0, 29.0, 80)]), 1.05))) == 2


def test_modulo_and_compact_inputs() -> None:
    ids = np.array([0, 200, 300, 360], dtype=np.int64)
    compact = perf.event_inputs(ids, get_config("performance_with_dynamics_compact"))
    assert compact.ravel().tolist() == [0.0, 200.0, 300.0, 360.0]
    modulo = perf.event_inputs(ids, get_config("performance_with_dynamics_and_modulo_encoding"))
    assert modulo.shape == (4, 16)
    assert modulo[:, [0, 5, 10, 13]].tolist() == np.eye(4).tolist()
    assert get_config("performance_with_dynamics_and_note_encoding").encoding is Encoding.NOTE


def test_encodings_package_imports_no_tensorflow() -> None:
    code = (
        "import sys, musicgen.encodings.augment, musicgen.examples.magenta_format; "
        "print([m for m in ('tensorflow', 'ray', 'keras') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_sequences_lib_is_what_we_wrap() -> None:
    ns = _seq([(60, 0.0, 1.0, 80)])
    assert augment.quantize(ns) == sequences_lib.quantize_note_sequence_absolute(ns, 100)


def test_pedal_across_split_leaves_an_empty_chunk_counted_too_short() -> None:
    ns = _long_seq(40)
    ns.notes.add(pitch=62, start_time=29.0, end_time=29.5, velocity=80)
    ns.control_changes.add(time=28.9, control_number=64, control_value=127)
    ns.control_changes.add(time=31.0, control_number=64, control_value=0)
    ns.total_time = 29.5
    stats: Counter[str] = Counter()
    examples = list(augment.magenta_pipeline(ns, get_config("performance"), False, stats))
    assert len(examples) == 1
    assert perf.num_steps(examples[0].events) == 3000  # the held note is clipped at 30 s
    prefix = "DAGPipeline_PerformanceExtractor_eval_"
    assert stats[prefix + "performances_discarded_too_short"] == 1  # the empty 30-31 s chunk
    assert stats[prefix + "performance_lengths_in_seconds:[30,40)"] == 1
