"""Yang & Lerch's objective protocol: features, distances, KDE overlap and KL, and on real data
(POP909) a batch of real held-out songs told apart from a batch of random notes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from note_seq.protobuf.music_pb2 import NoteSequence

from musicgen.generate import corpus_compare as cc
from musicgen.generate.quality import parse_midi
from tests.conftest import bundled_pop909, first_seconds


def _sequence(notes: list[tuple[int, float, float]], qpm: float = 120.0) -> NoteSequence:
    ns = NoteSequence()
    ns.tempos.add(qpm=qpm)
    for pitch, start, end in notes:
        ns.notes.add(pitch=pitch, velocity=80, start_time=start, end_time=end)
    ns.total_time = max([0.0, *(end for _, _, end in notes)])
    return ns


def _random_notes(seed: int, seconds: float = 30.0) -> NoteSequence:
    """Uniformly random piano notes: what an untrained model would write."""
    rng = np.random.default_rng(seed)
    notes = []
    for _ in range(int(rng.integers(100, 300))):
        start = float(rng.uniform(0, seconds - 0.1))
        end = min(seconds, start + float(rng.uniform(0.05, 2.0)))
        notes.append((int(rng.integers(21, 109)), start, end))
    return _sequence(notes)


def test_features_of_a_hand_made_piece() -> None:
    # At 120 qpm a quarter is 0.5 s: a C major triad held a half note, then E and G quarters.
    ns = _sequence([(60, 0.0, 1.0), (64, 0.0, 1.0), (67, 0.0, 1.0), (76, 1.0, 1.5),
                    (79, 1.5, 2.0)])  # fmt: skip
    features = cc.piece_features(ns)
    assert features["pitch_count"].tolist() == [5.0]
    assert features["pitch_range"].tolist() == [19.0]
    pch = features["pitch_class_histogram"]
    assert pch[[0, 4, 7]].tolist() == [0.2, 0.4, 0.4]
    nlh = features["note_length_histogram"]
    assert nlh[cc.NOTE_LENGTH_CLASSES.index(2.0)] == pytest.approx(0.6)  # three halves
    assert nlh[cc.NOTE_LENGTH_CLASSES.index(1.0)] == pytest.approx(0.4)  # two quarters
    assert features["inter_onset_interval"].tolist() == [0.75]  # onsets 0, 1, 1.5
    assert features["polyphony"].tolist() == [2.0]  # 3 notes for 1 s, 1 note for 1 s
    empty = cc.piece_features(NoteSequence())
    assert all(value is None for value in empty.values())


def test_overlap_and_kl_of_known_distributions() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 4000), rng.normal(0, 1, 4000)
    grid, ha, hb = cc.density_grid(a, b)
    step = grid[1] - grid[0]
    p, q = cc.binned_kde(a, grid, ha), cc.binned_kde(b, grid, hb)
    assert p.sum() * step == pytest.approx(1.0)
    assert cc.overlap_area(p, q, step) > 0.95
    assert cc.kl_divergence(p, q, step) < 0.01
    far = rng.normal(10, 1, 4000)
    grid, ha, hb = cc.density_grid(a, far)
    step = grid[1] - grid[0]
    p, q = cc.binned_kde(a, grid, ha), cc.binned_kde(far, grid, hb)
    assert cc.overlap_area(p, q, step) < 0.01
    assert 5 < cc.kl_divergence(p, q, step) < 100  # large, but finite: JSON-safe
    # Two normals one standard deviation apart: OA = 2 * Phi(-1/2) = 0.617, KL = 1/2.
    shifted = rng.normal(1, 1, 4000)
    grid, ha, hb = cc.density_grid(a, shifted)
    step = grid[1] - grid[0]
    p, q = cc.binned_kde(a, grid, ha), cc.binned_kde(shifted, grid, hb)
    assert cc.overlap_area(p, q, step) == pytest.approx(0.617, abs=0.04)
    assert cc.kl_divergence(p, q, step) == pytest.approx(0.5, abs=0.1)


def test_distances_intra_and_inter() -> None:
    x = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    assert cc.intra_distances(x).tolist() == [5.0, 10.0, 5.0]
    assert cc.inter_distances(x[:1], x[1:]).tolist() == [5.0, 10.0]


@pytest.fixture(scope="module")
def pop909() -> list[NoteSequence]:
    return [first_seconds(parse_midi(path.read_bytes()), 30.0) for path in bundled_pop909()]


def test_real_held_out_songs_and_random_notes_are_told_apart(pop909: list) -> None:
    corpus, real = pop909[0::2], pop909[1::2]  # two disjoint halves of 96 real songs
    random = [_random_notes(seed) for seed in range(len(real))]
    like = cc.compare(corpus, real).to_json()
    unlike = cc.compare(corpus, random).to_json()
    assert (like["corpus_pieces"], like["batch_pieces"]) == (48, 48)
    # Measured: real songs mean OA 0.957, KL 0.017; random notes OA 0.332, KL 7.2.
    assert like["mean_oa"] > 0.85
    assert like["mean_kl"] < 0.1
    assert unlike["mean_oa"] < 0.5
    assert unlike["mean_kl"] > 2
    for name in cc.FEATURES:
        real_f, random_f = like["features"][name], unlike["features"][name]
        assert real_f["oa"] > 0.85, name
        assert real_f["oa"] > random_f["oa"], name
    # The same input gives the same report, byte for byte, with no NaN anywhere.
    text = json.dumps(like, sort_keys=True, allow_nan=False)
    assert text == json.dumps(cc.compare(corpus, real).to_json(), sort_keys=True)


def test_pieces_without_notes_are_left_out_of_each_feature(pop909: list) -> None:
    batch = [*pop909[:3], NoteSequence(), _sequence([(60, 0.0, 0.5)])]
    report = cc.compare(pop909[3:8], batch).to_json()
    features = report["features"]
    assert features["pitch_count"]["batch_pieces"] == 4
    assert features["inter_onset_interval"]["batch_pieces"] == 3  # one onset: no interval
    one = cc.compare(pop909[:1], pop909[1:2]).to_json()  # one piece each: no intra-set pairs
    assert one["mean_oa"] is None
    assert one["features"]["pitch_range"]["kl"] is None


def test_a_kernel_wider_than_the_grid_keeps_the_grid_shape() -> None:
    grid = np.linspace(0.0, 1.0, cc.GRID_POINTS)
    density = cc.binned_kde(np.array([0.2, 0.4]), grid, bandwidth=5.0)
    assert density.shape == grid.shape
    assert density.sum() * (grid[1] - grid[0]) == pytest.approx(1.0)
