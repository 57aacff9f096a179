"""performance_fast equals augment.magenta_pipeline: events, metadata and counters.

The reference is the proto-based pipeline verified record for record against Magenta's golden
output; every comparison here runs both on the same NoteSequence.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from note_seq import sequences_lib
from note_seq.protobuf.music_pb2 import NoteSequence

from musicgen.corpus.midi_fast import midi_to_note_sequence
from musicgen.encodings import augment
from musicgen.encodings import performance_fast as fast
from musicgen.encodings.performance_configs import CONFIGS, get_config
from musicgen.storage.tfrecord import read_records

ALL = sorted(CONFIGS)
POP909_CONFIGS = (
    "performance",
    "performance_with_dynamics",
    "performance_with_dynamics_and_note_encoding",
)
# The ids of every config with 32 bins are the same; these two cover both vocabularies and the
# note encoding in the edge and random cases.
EDGE_CONFIGS = POP909_CONFIGS


def _run(gen: Iterator[Any]) -> tuple[list[Any], type[BaseException] | None]:
    """Items of a generator until it ends or raises (the exception type)."""
    items: list[Any] = []
    try:
        for item in gen:
            items.append(item)
    except (sequences_lib.NegativeTimeError, sequences_lib.QuantizationStatusError) as e:
        return items, type(e)
    return items, None


def assert_equal_pipelines(ns: NoteSequence, name: str, training: bool) -> int:
    """Asserts item-for-item and counter equality; returns the number of performances."""
    config = get_config(name)
    before = ns.SerializeToString(deterministic=True)
    ref_stats: Counter[str] = Counter()
    our_stats: Counter[str] = Counter()
    ref, ref_error = _run(augment.magenta_pipeline(ns, config, training, ref_stats))
    ours, our_error = _run(fast.extract_performances(ns, config, training, our_stats))
    assert ns.SerializeToString(deterministic=True) == before, "input modified"
    assert our_error is ref_error
    if config.optional_conditioning:
        assert [e.conditioned for e in ref] == [True, False] * len(ours)
        ref = ref[::2]
    assert len(ours) == len(ref)
    for i, (r, o) in enumerate(zip(ref, ours, strict=True)):
        meta_r = (r.stretch_factor, r.chunk_index, r.transpose)
        meta_o = (o.stretch_factor, o.chunk_index, o.transpose)
        assert meta_o == meta_r, f"item {i}"
        ev_r, ev_o = r.events, o.events
        assert ev_o.dtype == ev_r.dtype, f"item {i} {meta_r}"
        assert ev_o.shape == ev_r.shape, f"item {i} {meta_r}"
        assert np.array_equal(ev_o, ev_r), f"item {i} {meta_r}"
    assert dict(our_stats) == dict(ref_stats)  # dict: Counter == ignores zero entries
    return len(ours)


# --- real data -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def golden_sequences(golden_dir: Path) -> list[NoteSequence]:
    data = (golden_dir / "notesequences.tfrecord").read_bytes()
    return [NoteSequence.FromString(r) for r in read_records(data)]


@pytest.fixture(scope="module")
def pop909_sequences(pop909_dir: Path) -> list[NoteSequence]:
    # Spread over the corpus; 009 and 012 have duplicate notes under a pedal (the fallback).
    names = ["001", "009", "012", "050", "101", "150", "202", "250", "303", "350"]
    names += ["404", "450", "505", "606", "707", "809"]
    return [midi_to_note_sequence((pop909_dir / f"{n}.mid").read_bytes()) for n in names]


@pytest.mark.parametrize("training", [False, True], ids=["eval", "training"])
@pytest.mark.parametrize("name", ALL)
def test_golden_sequences(golden_sequences: list[NoteSequence], name: str, training: bool) -> None:
    total = sum(assert_equal_pipelines(ns, name, training) for ns in golden_sequences)
    assert total > 0


@pytest.mark.parametrize("training", [False, True], ids=["eval", "training"])
@pytest.mark.parametrize("name", POP909_CONFIGS)
def test_pop909(pop909_sequences: list[NoteSequence], name: str, training: bool) -> None:
    seqs = pop909_sequences if not training else pop909_sequences[:: 2 if "note" in name else 1]
    assert sum(assert_equal_pipelines(ns, name, training) for ns in seqs) > 0


# --- synthetic edge cases --------------------------------------------------------------------


def _seq(
    notes: list[tuple[int, float, float]],
    total: float | None = None,
    **fields: object,
) -> NoteSequence:
    """Notes (pitch, start, end) with velocity cycling through the bins."""
    ns = NoteSequence()
    for i, (pitch, start, end) in enumerate(notes):
        ns.notes.add(
            pitch=pitch, start_time=start, end_time=end, velocity=1 + (i * 37) % 127, **fields
        )
    ends = [n.end_time for n in ns.notes]
    ns.total_time = max(ends, default=0.0) if total is None else total
    return ns


def _dense(
    t0: float, t1: float, step: float = 0.11, pitch: int = 60
) -> list[tuple[int, float, float]]:
    """Notes every ``step`` seconds in [t0, t1), pitches walking around ``pitch``."""
    times = np.arange(t0, t1, step)
    return [(pitch + (i % 7) - 3, float(t), float(t) + 0.3) for i, t in enumerate(times)]


def _edge_cases() -> dict[str, NoteSequence]:
    cases: dict[str, NoteSequence] = {}
    cases["empty"] = NoteSequence()
    cases["empty_with_total_time"] = NoteSequence(total_time=45.0)
    drums = _seq(_dense(0.0, 40.0, pitch=40), is_drum=True)
    drums.notes[3].program = 0
    cases["drums_only"] = drums
    mixed = _seq(_dense(0.0, 20.0, step=0.25, pitch=60) + _dense(0.0, 20.0, step=0.25, pitch=62))
    for note in mixed.notes[::2]:
        note.is_drum = True  # drums and piano at the same starts: transposition reorders them
    cases["drums_and_piano_same_program"] = mixed
    cases["long_note_6h"] = _seq([(60, 0.5, 6 * 3600.0)])
    zero = _seq([*_dense(0.0, 10.0), (64, 5.0, 5.0), (65, 5.002, 5.004), (66, 7.0, 7.0)])
    cases["zero_length_notes"] = zero
    cases["negative_duration_first_chunk"] = _seq([*_dense(0.0, 40.0), (70, 2.0, 1.0)])
    cases["negative_duration_tiny"] = _seq([*_dense(0.0, 10.0), (70, 2.0, 1.999)])
    cases["negative_duration_later_chunk"] = _seq([*_dense(0.0, 70.0), (70, 61.0, 59.0)])
    drum_neg = _seq([*_dense(0.0, 70.0), (36, 30.004, 29.9), (38, 60.001, 60.0)])
    drum_neg.notes[-1].is_drum = drum_neg.notes[-2].is_drum = True  # not extended by sustain
    cases["negative_duration_drum_raises"] = drum_neg
    cases["negative_start"] = _seq([(60, -1.0, 0.5), (61, -0.5, 3.0), *_dense(0.0, 5.0)])
    cases["extreme_pitches"] = _seq(
        [(0, 0.1 * i, 0.1 * i + 0.5) for i in range(20)]
        + [(127, 3 + 0.1 * i, 3.2 + 0.1 * i) for i in range(20)]
        + [(2, 31.0 + 0.1 * i, 31.5 + 0.1 * i) for i in range(40)]
        + [(125, 61.0 + 0.1 * i, 61.5 + 0.1 * i) for i in range(40)]
    )
    programs = _seq(_dense(0.0, 50.0))
    for i, note in enumerate(programs.notes):
        note.program = 0 if note.start_time < 30 else i % 2  # second chunk has two programs
        note.instrument = i % 3
    cases["several_programs"] = programs
    pedal = _seq([*_dense(0.0, 29.0), (60, 29.5, 29.6), (72, 29.7, 29.8)])
    pedal.control_changes.add(time=29.0, control_number=64, control_value=127)
    pedal.control_changes.add(time=75.0, control_number=64, control_value=0)  # extends past 60
    cases["pedal_across_boundaries"] = pedal
    held = _seq(_dense(0.0, 31.0))
    held.control_changes.add(time=1.0, control_number=64, control_value=100)
    held.control_changes.add(time=95.0, control_number=7, control_value=100)
    cases["pedal_never_released"] = held
    late = _seq(_dense(0.0, 20.0))
    late.control_changes.add(time=40.0, control_number=64, control_value=127)
    late.control_changes.add(time=50.0, control_number=64, control_value=0)
    late.control_changes.add(time=80.0, control_number=11, control_value=3)
    late.tempos.add(time=0.0, qpm=100.0)
    late.tempos.add(time=70.0, qpm=140.0)
    cases["events_after_last_note"] = late
    restrike = _seq([(60, 0.1 * i, 0.1 * i + 0.05) for i in range(60)] + [(60, 1.0, 2.0)])
    restrike.control_changes.add(time=0.5, control_number=64, control_value=64)
    restrike.control_changes.add(time=4.0, control_number=64, control_value=63)
    cases["restrike_under_pedal"] = restrike
    dup = _seq(_dense(0.0, 12.0, step=0.2) * 2)  # exact duplicates under a pedal: the fallback
    dup.control_changes.add(time=0.0, control_number=64, control_value=127)
    dup.control_changes.add(time=6.0, control_number=64, control_value=0)
    cases["duplicates_under_pedal"] = dup
    cases["boundary_starts"] = _seq(
        [
            (60 + i % 5, 30.0 * k + d, 30.0 * k + d + 0.4)
            for k in range(1, 4)
            for i, d in enumerate((-1e-9, 0.0, 1e-9, -0.004, 0.005, 0.0049999))
        ]
        + _dense(0.0, 95.0, 0.7)
    )
    cases["total_time_multiple_of_30"] = _seq(_dense(0.0, 59.0, 0.3), total=60.0)
    cases["total_time_before_last_note"] = _seq(_dense(0.0, 40.0, 0.2), total=35.0)
    cases["long_gaps"] = _seq(
        [(60, 0.0, 0.1)] + [(62, 12.0 + 0.1 * i, 12.5 + 0.1 * i) for i in range(40)]
    )
    cases["dense_truncated"] = _seq(_dense(0.0, 30.0, step=0.02))
    return cases


EDGE_CASES = _edge_cases()


@pytest.mark.parametrize("training", [False, True], ids=["eval", "training"])
@pytest.mark.parametrize("name", EDGE_CONFIGS)
@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases(case: str, name: str, training: bool) -> None:
    assert_equal_pipelines(EDGE_CASES[case], name, training)


def test_quantized_input_raises_like_reference() -> None:
    ns = sequences_lib.quantize_note_sequence_absolute(_seq(_dense(0.0, 5.0)), 100)
    assert_equal_pipelines(ns, "performance", True)
    with pytest.raises(sequences_lib.QuantizationStatusError):
        list(fast.extract_performances(ns, get_config("performance"), True))


def test_huge_total_time_is_bounded() -> None:
    """1e9 s of empty chunks: counted arithmetically, not materialized (the reference can't)."""
    ns = _seq([(60, 0.5, 1e9)], total=1e9)
    stats: Counter[str] = Counter()
    start = time.perf_counter()
    items = list(fast.extract_performances(ns, get_config("performance"), True, stats))
    assert time.perf_counter() - start < 5.0
    assert [item.chunk_index for item in items] == [0] * 35  # the first 30 s of the note
    chunks = sum(fast._num_splits(1e9 * f, 30.0) + 1 for f in augment.TRAINING_STRETCH_FACTORS)
    prefix = augment.stat_prefix("TranspositionPipeline", True)
    assert stats[prefix + "transpositions_generated"] == 7 * chunks


def test_num_splits_equals_arange() -> None:
    rng = np.random.default_rng(1)
    totals = [0.0, -1.0, 29.999, 30.0, 30.000001, 60.0, 90.0 - 1e-12, 1e4 / 3]
    totals += (rng.random(200) * 400).tolist() + (np.arange(1, 50) * 30.0).tolist()
    for total in totals:
        expected = np.arange(30, total, 30)
        assert fast._num_splits(total, 30.0) == len(expected), total
        assert np.array_equal(expected, 30.0 * np.arange(1, len(expected) + 1))


# --- randomized ------------------------------------------------------------------------------


def _random_sequence(rng: np.random.Generator) -> NoteSequence:
    """Short random sequences that hit boundaries, ties, pedals, drums and programs."""
    ns = NoteSequence()
    n = int(rng.integers(0, 300))
    length = float(rng.choice([10.0, 29.0, 35.0, 64.0]))
    grid = float(rng.choice([0.0, 0.01, 0.05, 0.125]))
    instruments = int(rng.integers(1, 3))
    pitch_lo = int(rng.choice([0, 30, 60, 118]))
    p_program = 0.05 if rng.random() < 0.2 else 0.0
    for _ in range(n):
        start = float(rng.random() * length)
        if grid:
            start = round(start / grid) * grid
        if rng.random() < 0.05:
            start = 30.0 * int(rng.integers(1, 3)) + float(rng.choice([-1e-9, 0.0, 1e-9, 0.005]))
        duration = float(
            rng.choice([0.0, 0.004, 0.2, 1.0, 3.0, 12.0], p=[0.05, 0.05, 0.5, 0.3, 0.08, 0.02])
        )
        ns.notes.add(
            pitch=pitch_lo + int(rng.integers(0, 10)),
            start_time=start,
            end_time=start + duration,
            velocity=int(rng.integers(1, 128)),
            instrument=int(rng.integers(0, instruments)),
            program=int(rng.random() < p_program),
            is_drum=bool(rng.random() < 0.05),
        )
    if n and rng.random() < 0.1:
        ns.notes.add().CopyFrom(ns.notes[int(rng.integers(0, n))])  # an exact duplicate
    if n and rng.random() < 0.1:
        note = ns.notes[int(rng.integers(0, n))]
        note.start_time = 30.0 * int(rng.integers(0, 2)) + float(rng.random() * 0.02)
        note.end_time = note.start_time - float(rng.random() * 0.05)  # negative duration
        note.is_drum = rng.random() < 0.5  # drums keep it through sustain: NegativeTimeError
    for _ in range(int(rng.integers(0, 10))):
        ns.control_changes.add(
            time=float(rng.random() * length * 1.3),
            control_number=int(rng.choice([64, 64, 64, 7])),
            control_value=int(rng.integers(0, 128)),
            instrument=int(rng.integers(0, instruments)),
        )
    for _ in range(int(rng.integers(0, 3))):
        ns.tempos.add(time=float(rng.random() * length), qpm=float(rng.uniform(60, 180)))
    ends = [note.end_time for note in ns.notes]
    ns.total_time = max(ends, default=0.0) if rng.random() < 0.9 else float(rng.random() * 40)
    return ns


@pytest.mark.parametrize("name", EDGE_CONFIGS)
def test_random_sequences(name: str) -> None:
    rng = np.random.default_rng(2024 + len(name))
    performances = 0
    for i in range(200):
        ns = _random_sequence(rng)
        training = i % 2 == 0
        try:
            performances += assert_equal_pipelines(ns, name, training)
        except AssertionError as e:
            raise AssertionError(f"sequence {i} (training={training}): {e}\n{ns}") from e
    assert performances > 100


def test_sustain_equals_note_seq() -> None:
    rng = np.random.default_rng(7)
    for _ in range(400):
        ns = _random_sequence(rng)
        ours, total = fast._sustained(ns)
        ref = augment.apply_sustain(ns)
        assert total == ref.total_time or (math.isnan(total) and math.isnan(ref.total_time))
        expected = fast._notes(ref)
        for field in ("start", "end", "pitch", "velocity", "instrument", "program", "is_drum"):
            assert np.array_equal(getattr(ours, field), getattr(expected, field)), field


def test_encoded_items_equal_reference_examples(golden_sequences: list[NoteSequence]) -> None:
    """``augment.encode_events(item.events)`` gives the reference's inputs and labels."""
    config = get_config("optional_multiconditioned_performance_with_dynamics")
    for ns in golden_sequences:
        ref = list(augment.magenta_pipeline(ns, config, False))
        pairs = [
            pair
            for item in fast.extract_performances(ns, config, False)
            for pair in augment.encode_events(item.events, config)
        ]
        assert len(pairs) == len(ref)
        for example, (inputs, labels, conditioned) in zip(ref, pairs, strict=True):
            assert np.array_equal(example.inputs, inputs)
            assert np.array_equal(example.labels, labels)
            assert example.conditioned == conditioned
