"""The B-L piano-roll benchmarks (JSB Chorales, Nottingham, Piano-midi.de) as example shards.

Their official train/valid/test splits are kept as the split folders, so models are scored on
the same test pieces as the papers. The pickles hold frames only; a note's onset is taken to
be a frame where it sounds and did not sound just before (tied repeats cannot be told apart),
which is how frame-only data is read by the articulation-aware models too.

The papers train on the pieces as given, so nothing is augmented unless ``augment=True``; then
each training piece is also written transposed by each of Magenta's training shifts (-3..+3
semitones), valid and test stay as given, and a copy that would leave the 88 keys is dropped,
never clipped or wrapped (either would write notes the piece does not have).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from musicgen import storage
from musicgen.config import ExamplesConfig
from musicgen.errors import InputError
from musicgen.examples.polyphonic import MIN_PITCH, SPLITS, load_polyphonic
from musicgen.examples.stats import CONVERTED, SKIPPED, ExamplesStats
from musicgen.storage import layout
from musicgen.storage.tfrecord import encode_record

if TYPE_CHECKING:
    from musicgen.examples.pipeline import ExamplesReport

# Frames per quarter note of each set, as distributed (B-L 2012: JSB on quarter notes, the
# others sampled on eighth notes).
STEPS_PER_QUARTER = {"JSB_Chorales": 1, "Nottingham": 2, "Piano-midi.de": 2}


def onsets_from_frames(frames: np.ndarray) -> np.ndarray:
    """A note starts where it sounds and did not sound in the previous frame."""
    previous = np.zeros_like(frames)
    previous[1:] = frames[:-1]
    return frames & ~previous


def transpose_frames(frames: np.ndarray, semitones: int) -> np.ndarray | None:
    """``frames`` ``[T, P]`` moved ``semitones`` columns up, or None if a note would leave it."""
    if semitones == 0:
        return frames
    width = frames.shape[1]
    if abs(semitones) >= width:
        return None if frames.any() else frames.copy()
    falling_off = frames[:, width - semitones :] if semitones > 0 else frames[:, :-semitones]
    if falling_off.any():
        return None
    shifted = np.zeros_like(frames)
    if semitones > 0:
        shifted[:, semitones:] = frames[:, : width - semitones]
    else:
        shifted[:, :semitones] = frames[:, -semitones:]
    return shifted


def make_benchmark_examples(cfg: ExamplesConfig) -> ExamplesReport:
    """Writes ``<split>/examples-00000-of-00001.tfrecord`` for train, valid and test."""
    from musicgen.encodings.augment import TRAINING_TRANSPOSITIONS
    from musicgen.encodings.chords import count_chords
    from musicgen.examples.compact_format import serialize_pianoroll
    from musicgen.examples.pipeline import ExamplesReport, remove_stale_shards, write_side_files

    if storage.is_gcs(cfg.input):
        raise InputError(cfg.input, "unsupported", "benchmark pickles are read from local disk")
    # Before any delete: a pickle inside the output folder is input, never ours to remove.
    storage.check_job_paths(cfg.input, cfg.output, what="examples")
    started = time.monotonic()
    dataset = Path(cfg.input).name.removesuffix(".pickle")
    steps = STEPS_PER_QUARTER.get(dataset, cfg.steps_per_quarter)
    cfg = _with_steps(cfg, steps)
    pieces = load_polyphonic(cfg.input)
    storage.makedirs(cfg.output)
    storage.delete(storage.join(cfg.output, layout.STATS))
    stats = ExamplesStats()
    chords: Counter[tuple[int, ...]] = Counter()
    failures: list[str] = []
    keep: set[str] = set()
    shifts = TRAINING_TRANSPOSITIONS if cfg.augment else (0,)
    for split in SPLITS:
        records = []
        for i, frames in enumerate(pieces[split]):
            sequence_id = f"/id/benchmark/{dataset}/{split}/{i:04d}"
            stats.sequences_by_split[split] += 1
            if not frames.any():
                stats.add(SKIPPED, "no_notes")
                failures.append(json.dumps({"uri": cfg.input, "record": i, "id": sequence_id,
                                            "outcome": SKIPPED, "reason": "no_notes",
                                            "message": "the piece is silent"}))  # fmt: skip
                continue
            for shift in shifts if split == "train" else (0,):
                shifted = transpose_frames(frames, shift)
                if shifted is None:
                    stats.pipeline["transpositions_off_keyboard"] += 1
                    continue
                if split == "train":  # the copies are training data too
                    chords.update(count_chords(shifted))
                record = serialize_pianoroll(
                    (shifted, onsets_from_frames(shifted)),
                    id=sequence_id if shift == 0 else f"{sequence_id}/t{shift:+d}",
                    split=split,
                    steps_per_quarter=steps,
                    min_pitch=MIN_PITCH,
                    transpose=shift,
                )
                records.append(encode_record(record))
                stats.examples[split] += 1
                stats.bytes_written[split] += len(records[-1])
            stats.add(CONVERTED)
            stats.pipeline["pianoroll_frames"] += len(frames)
        name = layout.example_shard_name(split, 0, 1)
        keep.add(name)
        storage.write_bytes(storage.join(cfg.output, name), b"".join(records))
    storage.write_text(
        storage.join(cfg.output, layout.FAILURES), "".join(f + "\n" for f in failures)
    )
    removed = remove_stale_shards(cfg.output, keep, SPLITS)
    vocabulary_size = write_side_files(cfg, chords, SPLITS, transpositions=shifts)
    report = ExamplesReport(
        cfg, stats, [cfg.input], removed, time.monotonic() - started, vocabulary_size
    )
    storage.write_text(
        storage.join(cfg.output, layout.STATS), json.dumps(report.to_dict(), indent=2) + "\n"
    )
    return report


def _with_steps(cfg: ExamplesConfig, steps: int) -> ExamplesConfig:
    import dataclasses

    return dataclasses.replace(cfg, steps_per_quarter=steps)
