"""A generated batch judged against its corpus with the objective protocol of Yang & Lerch (2020,
"On the evaluation of generative models in music", Neural Computing and Applications 32).

Every piece becomes a few musically meaningful features (:data:`FEATURES`). For each feature,
the pairwise distances within the corpus's held-out pieces (intra-set), within the batch
(intra-set) and between the two sets (inter-set) form three distance distributions, smoothed by
Gaussian kernel density estimates. A batch that resembles its corpus has inter-set distances
distributed like the corpus's own intra-set distances: their overlapping area (OA, 1 for equal
densities) is high and the Kullback-Leibler divergence KL(corpus intra || inter) is low. A
batch of random notes sits far from every corpus piece: low OA, high KL.

Differences from the paper's reference code (mgeval), each for a reason: both densities are
evaluated on one common grid (mgeval evaluates each on its own sample range, which makes its
KL depend on the ranges); the kernel density is binned (a histogram convolved with the
Gaussian kernel, Scott's bandwidth as in ``scipy.stats.gaussian_kde``), so 40,000 distances
cost milliseconds and the numbers are a deterministic function of the inputs; a feature that
is undefined for a piece (no notes) leaves that piece out of that feature. Memorization, the
other half of judging a batch against its corpus, is the longest run shared with the training
split (``quality.CorpusIndex``, report.json's ``memorization``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from note_seq.protobuf.music_pb2 import NoteSequence

from musicgen.generate.quality import n_pitches_used, pitch_range, polyphony, quarters

FEATURES = (
    "pitch_count",
    "pitch_class_histogram",
    "pitch_range",
    "note_length_histogram",
    "inter_onset_interval",
    "polyphony",
)
"""The per-piece features compared (the paper's PC, PCH, PR, NLH, IOI, and polyphony)."""

FEATURE_UNITS = {
    "pitch_count": "distinct pitches",
    "pitch_class_histogram": "share of notes per pitch class (12 values)",
    "pitch_range": "semitones",
    "note_length_histogram": "share of notes per length class (12 values)",
    "inter_onset_interval": "seconds between successive onsets (mean)",
    "polyphony": "notes sounding (mean over sounding time)",
}

# The paper's 12 note-length classes in quarter notes: whole, half, quarter, 8th, 16th; their
# dotted forms; half, quarter and 8th triplets.
NOTE_LENGTH_CLASSES = (4.0, 2.0, 1.0, 0.5, 0.25, 3.0, 1.5, 0.75, 0.375, 4 / 3, 2 / 3, 1 / 3)
GRID_POINTS = 1024
_DENSITY_FLOOR = 1e-10  # where the inter-set density is 0, KL is large but finite
_DECIMALS = 6  # rounded, so the JSON is the same on any machine's floating-point rounding


def _pitches(ns: NoteSequence) -> list[NoteSequence.Note]:
    return [n for n in ns.notes if not n.is_drum]


def pitch_class_histogram(ns: NoteSequence) -> np.ndarray | None:
    """Share of (non-drum) notes in each of the 12 pitch classes; ``None`` without notes."""
    notes = _pitches(ns)
    if not notes:
        return None
    hist = np.bincount([n.pitch % 12 for n in notes], minlength=12).astype(np.float64)
    return hist / hist.sum()


def note_length_histogram(ns: NoteSequence) -> np.ndarray | None:
    """Share of notes in each of :data:`NOTE_LENGTH_CLASSES`, nearest on a log scale, in
    quarter notes on the sequence's tempo map; ``None`` without notes."""
    notes = [n for n in _pitches(ns) if n.end_time > n.start_time]
    if not notes:
        return None
    starts = quarters(ns, np.array([n.start_time for n in notes], np.float64))
    ends = quarters(ns, np.array([n.end_time for n in notes], np.float64))
    lengths = np.log2(np.maximum(ends - starts, 1e-6))
    nearest = np.abs(lengths[:, None] - np.log2(NOTE_LENGTH_CLASSES)[None, :]).argmin(axis=1)
    hist = np.bincount(nearest, minlength=len(NOTE_LENGTH_CLASSES)).astype(np.float64)
    return hist / hist.sum()


def inter_onset_interval(ns: NoteSequence) -> float | None:
    """Mean seconds between successive distinct onsets; ``None`` with fewer than two."""
    onsets = np.unique(np.round([n.start_time for n in _pitches(ns)], 6))
    return float(np.diff(onsets).mean()) if len(onsets) >= 2 else None


def piece_features(ns: NoteSequence) -> dict[str, np.ndarray | None]:
    """Every feature of :data:`FEATURES` as a float vector (``None`` where undefined)."""
    scalars: dict[str, float | int | None] = {
        "pitch_count": n_pitches_used(ns) if _pitches(ns) else None,
        "pitch_range": pitch_range(ns),
        "inter_onset_interval": inter_onset_interval(ns),
        "polyphony": polyphony(ns),
    }
    out: dict[str, np.ndarray | None] = {
        name: None if value is None else np.array([float(value)]) for name, value in scalars.items()
    }
    out["pitch_class_histogram"] = pitch_class_histogram(ns)
    out["note_length_histogram"] = note_length_histogram(ns)
    return {name: out[name] for name in FEATURES}


def feature_matrix(pieces: Sequence[dict[str, np.ndarray | None]], name: str) -> np.ndarray:
    """``[pieces with the feature defined, feature size]`` for one feature."""
    rows = [value for p in pieces if (value := p[name]) is not None]
    return np.stack(rows).astype(np.float64) if rows else np.zeros((0, 1))


def intra_distances(x: np.ndarray) -> np.ndarray:
    """Euclidean distances of every pair of rows of ``x`` (each pair once)."""
    i, j = np.triu_indices(len(x), k=1)
    return np.linalg.norm(x[i] - x[j], axis=-1)


def inter_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Euclidean distances of every row of ``x`` to every row of ``y``."""
    return np.linalg.norm(x[:, None, :] - y[None, :, :], axis=-1).ravel()


def scott_bandwidth(samples: np.ndarray) -> float:
    """Scott's rule for a 1-D Gaussian KDE, as scipy's default: std * n ** (-1/5)."""
    return float(np.std(samples, ddof=1) * len(samples) ** (-0.2)) if len(samples) > 1 else 0.0


def density_grid(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The common grid both densities are evaluated on, and the two bandwidths.

    It spans both samples plus four bandwidths either side. A sample without spread (every
    distance equal) gets a bandwidth of 1/200 of the joint span (or 1e-3), so it is a narrow
    bump rather than a division by zero.
    """
    both = np.concatenate([a, b])
    span = float(both.max() - both.min()) or 1.0
    floor = max(span / 200.0, 1e-3)
    ha, hb = (max(scott_bandwidth(s), floor) for s in (a, b))
    pad = 4 * max(ha, hb)
    grid = np.linspace(both.min() - pad, both.max() + pad, GRID_POINTS)
    return grid, ha, hb


def binned_kde(samples: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """A Gaussian KDE on an even grid: samples binned linearly onto the grid points, then
    convolved with the kernel; normalised to integrate to 1 on the grid."""
    step = float(grid[1] - grid[0])
    pos = (samples - grid[0]) / step
    low = np.clip(np.floor(pos).astype(np.int64), 0, len(grid) - 2)
    frac = np.clip(pos - low, 0.0, 1.0)
    counts = np.bincount(low, weights=1 - frac, minlength=len(grid))
    counts += np.bincount(low + 1, weights=frac, minlength=len(grid))
    half = min(len(grid), math.ceil(5 * bandwidth / step))
    offsets = np.arange(-half, half + 1) * step
    kernel = np.exp(-0.5 * (offsets / bandwidth) ** 2)
    # The full convolution, centred: exact whatever the kernel's length relative to the grid.
    density = np.convolve(counts, kernel, mode="full")[half : half + len(grid)]
    return density / (density.sum() * step)


def overlap_area(p: np.ndarray, q: np.ndarray, step: float) -> float:
    """Area under the smaller of two densities on the same grid (1: identical, 0: disjoint)."""
    return float(np.minimum(p, q).sum() * step)


def kl_divergence(p: np.ndarray, q: np.ndarray, step: float) -> float:
    """KL(p || q) in nats, by the grid sum; ``q`` is floored so disjoint supports stay finite."""
    mask = p > 0
    return float((p[mask] * np.log(p[mask] / np.maximum(q[mask], _DENSITY_FLOOR))).sum() * step)


@dataclass(frozen=True)
class FeatureComparison:
    """One feature's values and distance distributions, and the protocol's two numbers.

    Attributes:
        name: The feature.
        corpus_values: ``[n, size]`` values of the corpus pieces where defined.
        batch_values: The same for the batch.
        corpus_intra: Distances between corpus pieces.
        batch_intra: Distances between batch pieces.
        inter: Distances from every corpus piece to every batch piece.
        kl: KL(corpus intra || inter) in nats (``None`` when a set has fewer than 2 pieces).
        oa: Overlapping area of the corpus intra and the inter densities (or ``None``).
        batch_oa: Overlapping area of the batch intra and the inter densities (or ``None``).
    """

    name: str
    corpus_values: np.ndarray
    batch_values: np.ndarray
    corpus_intra: np.ndarray
    batch_intra: np.ndarray
    inter: np.ndarray
    kl: float | None
    oa: float | None
    batch_oa: float | None

    def densities(self) -> dict[str, np.ndarray]:
        """``grid`` and the KDEs ``corpus_intra``, ``batch_intra``, ``inter`` on it (plots)."""
        sets = {"corpus_intra": self.corpus_intra, "batch_intra": self.batch_intra,
                "inter": self.inter}  # fmt: skip
        present = [v for v in sets.values() if len(v)]
        if not present:
            return {}
        grid, _, _ = density_grid(np.concatenate(present), np.concatenate(present))
        out = {"grid": grid}
        for key, values in sets.items():
            if len(values):
                out[key] = binned_kde(values, grid, max(scott_bandwidth(values), 1e-3))
        return out

    def to_json(self) -> dict[str, Any]:
        """The report's entry: KL, OA and the mean/std of each distance distribution."""

        def stats(values: np.ndarray) -> dict[str, Any]:
            if not len(values):
                return {"count": 0, "mean": None, "std": None}
            return {"count": len(values), "mean": _round(float(values.mean())),
                    "std": _round(float(values.std()))}  # fmt: skip

        return {
            "unit": FEATURE_UNITS[self.name],
            "corpus_pieces": len(self.corpus_values),
            "batch_pieces": len(self.batch_values),
            "corpus_intra": stats(self.corpus_intra),
            "batch_intra": stats(self.batch_intra),
            "inter": stats(self.inter),
            "kl": _round(self.kl),
            "oa": _round(self.oa),
            "batch_oa": _round(self.batch_oa),
        }


def _round(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, _DECIMALS) + 0.0


def compare_feature(name: str, corpus: np.ndarray, batch: np.ndarray) -> FeatureComparison:
    """The protocol for one feature, from the two sets' ``[n, size]`` values."""
    corpus_intra, batch_intra = intra_distances(corpus), intra_distances(batch)
    inter = inter_distances(corpus, batch) if len(corpus) and len(batch) else np.zeros(0)
    kl = oa = batch_oa = None
    if len(corpus_intra) and len(inter):
        grid, h_intra, h_inter = density_grid(corpus_intra, inter)
        step = float(grid[1] - grid[0])
        p, q = binned_kde(corpus_intra, grid, h_intra), binned_kde(inter, grid, h_inter)
        kl, oa = kl_divergence(p, q, step), overlap_area(p, q, step)
    if len(batch_intra) and len(inter):
        grid, h_batch, h_inter = density_grid(batch_intra, inter)
        step = float(grid[1] - grid[0])
        batch_oa = overlap_area(
            binned_kde(batch_intra, grid, h_batch), binned_kde(inter, grid, h_inter), step
        )
    return FeatureComparison(
        name, corpus, batch, corpus_intra, batch_intra, inter, kl, oa, batch_oa
    )


@dataclass(frozen=True)
class Comparison:
    """A batch against its corpus, feature by feature (:func:`compare`)."""

    corpus_pieces: int
    batch_pieces: int
    features: dict[str, FeatureComparison]

    def to_json(self) -> dict[str, Any]:
        """report.json's ``corpus_comparison`` section."""
        oas = [f.oa for f in self.features.values() if f.oa is not None]
        kls = [f.kl for f in self.features.values() if f.kl is not None]
        return {
            "protocol": "Yang & Lerch 2020: KL(corpus intra-set || inter-set) and overlapping "
            "area of the two distance densities (Gaussian KDE), per feature",
            "corpus": "held-out (eval split) pieces of the run's dataset",
            "corpus_pieces": self.corpus_pieces,
            "batch_pieces": self.batch_pieces,
            "mean_oa": _round(float(np.mean(oas))) if oas else None,
            "mean_kl": _round(float(np.mean(kls))) if kls else None,
            "features": {name: f.to_json() for name, f in self.features.items()},
            "memorization": "see memorization: the longest run shared with the training split",
        }


def compare(corpus: Sequence[NoteSequence], batch: Sequence[NoteSequence]) -> Comparison:
    """Yang & Lerch's protocol: the batch's pieces against the corpus's, for every feature.

    Args:
        corpus: The reference pieces (the held-out split).
        batch: The generated pieces (parsed from their MIDI bytes).

    Returns:
        The comparison; ``to_json()`` is the report's section.
    """
    corpus_features = [piece_features(ns) for ns in corpus]
    batch_features = [piece_features(ns) for ns in batch]
    features = {
        name: compare_feature(
            name, feature_matrix(corpus_features, name), feature_matrix(batch_features, name)
        )
        for name in FEATURES
    }
    return Comparison(len(corpus), len(batch), features)
