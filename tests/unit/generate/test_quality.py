"""Quality metrics on hand-made sequences with known values, and the memorization index."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
from note_seq.protobuf.music_pb2 import NoteSequence

from musicgen.generate.quality import (
    GENERATION_FACTS,
    CorpusIndex,
    batch_summary,
    empty_beat_rate,
    metrics_of_bytes,
    n_pitches_used,
    note_tokens,
    parse_midi,
    pitch_class_entropy,
    pitch_range,
    polyphony,
    sample_metrics,
    scale_consistency,
)

C_MAJOR = [60, 62, 64, 65, 67, 69, 71]


def _ns(
    notes: list[tuple[int, float, float]], qpm: float | None = 120.0, drums: bool = False
) -> NoteSequence:
    ns = NoteSequence()
    if qpm:
        ns.tempos.add(time=0.0, qpm=qpm)
    for pitch, start, end in notes:
        ns.notes.add(pitch=pitch, velocity=80, start_time=start, end_time=end, is_drum=drums)
    ns.total_time = max((end for _, _, end in notes), default=0.0)
    return ns


def test_c_major_scale() -> None:
    ns = _ns([(p, i * 0.5, i * 0.5 + 0.5) for i, p in enumerate(C_MAJOR)])
    assert scale_consistency(ns) == 1.0
    assert pitch_class_entropy(ns) == pytest.approx(math.log2(7))
    assert pitch_range(ns) == 11
    assert n_pitches_used(ns) == 7
    assert polyphony(ns) == pytest.approx(1.0)
    assert empty_beat_rate(ns) == 0.0  # one note per beat at 120 qpm


def test_chromatic_scale() -> None:
    ns = _ns([(60 + i, i * 0.5, i * 0.5 + 0.5) for i in range(12)])
    assert pitch_class_entropy(ns) == pytest.approx(math.log2(12))
    assert scale_consistency(ns) == pytest.approx(7 / 12)


def test_chord_polyphony() -> None:
    chord = _ns([(60, 0.0, 1.0), (64, 0.0, 1.0), (67, 0.0, 1.0)])
    assert polyphony(chord) == pytest.approx(3.0)
    assert pitch_class_entropy(chord) == pytest.approx(math.log2(3))
    # A chord for 1 s, then a single note for 1 s, then a rest: (3 + 1) / 2.
    mixed = _ns([(60, 0.0, 1.0), (64, 0.0, 1.0), (67, 0.0, 1.0), (72, 1.0, 2.0), (72, 3.0, 3.5)])
    assert polyphony(mixed) == pytest.approx((3 + 1 + 0.5) / 2.5)
    assert pitch_class_entropy(_ns([(60, 0, 1), (72, 1, 2)])) == 0.0


def test_empty_beat_rate_follows_tempo() -> None:
    # 120 qpm: beats of 0.5 s; notes in beats 0 and 3 of 4.
    ns = _ns([(60, 0.0, 0.5), (62, 1.6, 2.0)])
    assert empty_beat_rate(ns) == pytest.approx(0.5)
    slow = _ns([(60, 0.0, 1.0)], qpm=60.0)
    slow.total_time = 4.0
    assert empty_beat_rate(slow) == pytest.approx(0.75)
    default = _ns([(60, 0.0, 0.5)], qpm=None)  # no tempo: 120 qpm
    default.total_time = 2.0
    assert empty_beat_rate(default) == pytest.approx(0.75)


def test_drums_count_as_sound_but_not_as_pitches() -> None:
    ns = _ns([(60, 0.0, 0.5)])
    ns.notes.add(pitch=36, velocity=100, start_time=1.0, end_time=1.0, is_drum=True)
    ns.total_time = 1.5
    assert pitch_range(ns) == 0
    assert empty_beat_rate(ns) == pytest.approx(1 / 3)  # the zero-length hit fills its beat


def test_empty_sequence_gives_none_not_nan() -> None:
    metrics = sample_metrics(NoteSequence())
    assert metrics["notes"] == 0
    assert metrics["n_pitches_used"] == 0
    for name in ("pitch_range", "polyphony", "pitch_class_entropy", "scale_consistency"):
        assert metrics[name] is None, name
    assert metrics["empty_beat_rate"] is None


def _brute_longest(query: list[int], corpus: list[list[int]]) -> int:
    best = 0
    for seq in corpus:
        for i in range(len(query)):
            for g in range(len(seq)):
                k = 0
                while i + k < len(query) and g + k < len(seq) and query[i + k] == seq[g + k]:
                    k += 1
                best = max(best, k)
    return best


def test_copied_passage_is_found_and_random_one_is_not() -> None:
    rng = np.random.default_rng(0)
    corpus = [rng.integers(0, 5000, rng.integers(200, 500)).tolist() for _ in range(20)]
    index = CorpusIndex.build(corpus, n=8)
    copied = (
        rng.integers(0, 5000, 30).tolist() + corpus[7][100:140] + rng.integers(0, 5000, 30).tolist()
    )
    match = index.longest_match(copied)
    assert match.length >= 40
    assert (match.sequence, match.corpus_start, match.query_start) == (7, 100, 30)
    assert index.longest_shared_run(rng.integers(0, 5000, 300)) == 0
    restored = pickle.loads(pickle.dumps(index))  # noqa: S301 - our own bytes
    assert restored.longest_shared_run(copied) == match.length


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_run_length_is_exact_on_a_repetitive_alphabet(n: int) -> None:
    # Four symbols: many n-grams repeat, so candidates must be verified and extended exactly.
    rng = np.random.default_rng(n)
    corpus = [rng.integers(0, 4, 60).tolist() for _ in range(5)]
    index = CorpusIndex.build(corpus, n=n)
    for _ in range(10):
        query = rng.integers(0, 4, 40).tolist()
        expected = _brute_longest(query, corpus)
        assert index.longest_shared_run(query) == (expected if expected >= n else 0)


def test_runs_never_cross_corpus_sequences() -> None:
    index = CorpusIndex.build([[1, 2, 3, 4], [5, 6, 7, 8]], n=2)
    assert index.longest_shared_run([3, 4, 5, 6]) == 2
    assert index.longest_shared_run([1]) == 0
    assert CorpusIndex.build([], n=2).longest_shared_run([1, 2, 3]) == 0
    with pytest.raises(ValueError, match="tokens"):
        index.longest_shared_run([-1, 2])


def test_copied_40_notes_via_note_tokens() -> None:
    rng = np.random.default_rng(1)

    def piece(count: int, offset: float) -> list[tuple[int, float, float]]:
        onsets = offset + np.cumsum(rng.choice([0.125, 0.25, 0.5], count))
        return [
            (int(p), float(t), float(t) + 0.2)
            for p, t in zip(rng.integers(40, 90, count), onsets, strict=True)
        ]

    training = [_ns(piece(300, 0.0)) for _ in range(5)]
    passage = sorted(training[2].notes, key=lambda n: (n.start_time, n.pitch))[50:90]
    shift = 7.3 - passage[0].start_time  # the copy starts elsewhere in time; deltas are kept
    copy = [(n.pitch, n.start_time + shift, n.end_time + shift) for n in passage]
    sample = _ns(piece(20, 0.0) + copy + piece(20, 20.0))
    index = CorpusIndex.from_note_sequences(training, n=8)
    assert sample_metrics(sample, corpus=index)["longest_shared_run"] >= 39  # 1st delta differs
    assert index.longest_shared_run(note_tokens(_ns(piece(100, 0.0)))) < 8
    transposed = _ns([(p + 2, s, e) for p, s, e in copy])
    plain = CorpusIndex.build([note_tokens(t, intervals=True) for t in training], n=8)
    assert plain.longest_shared_run(note_tokens(transposed, intervals=True)) >= 38


def test_batch_summary_skips_undefined_values() -> None:
    rows = [
        {"polyphony": 1.0, "notes": 10},
        {"polyphony": None, "notes": 20},
        {"polyphony": 3.0, "notes": 60},
    ]
    summary = batch_summary(rows)
    assert summary["polyphony"] == {"mean": 2.0, "median": 2.0, "min": 1.0, "max": 3.0, "count": 2}
    assert summary["notes"] == {"mean": 30.0, "median": 20.0, "min": 10.0, "max": 60.0, "count": 3}
    assert batch_summary([]) == {}


def test_metrics_are_a_function_of_the_bytes_written(tmp_path: Path) -> None:
    """The manifest's metrics are those any reader of the object computes (a re-run, a pull)."""
    from musicgen import storage
    from musicgen.generate.manifest import write_sample
    from musicgen.generate.samples import midi_bytes

    # Times off the MIDI tick grid and a same-pitch overlap: the written file is not ``ns``.
    ns = _ns([(60, 0.0, 1.0003), (60, 0.5001, 1.5), (64, 0.25, 2.0), (67, 0.33333, 0.66667)])
    data = midi_bytes(ns)
    row = write_sample(str(tmp_path), "b1-00000", data, 1, {}, metrics_of_bytes(data))
    read_back = storage.read_bytes(storage.join(str(tmp_path), row.uri))
    assert read_back == data
    assert metrics_of_bytes(read_back) == row.metrics == metrics_of_bytes(bytes(read_back))
    assert row.metrics == sample_metrics(parse_midi(read_back))
    assert set(row.metrics).isdisjoint(GENERATION_FACTS)
    corpus = CorpusIndex.from_note_sequences([ns], n=2)
    assert (
        metrics_of_bytes(data, corpus=corpus)["longest_shared_run"]
        == (metrics_of_bytes(read_back, corpus=corpus)["longest_shared_run"])
    )
