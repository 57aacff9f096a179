"""Training-example speed and size: performance_with_dynamics, full augmentation, POP909.

    .venv/bin/python benchmarks/examples.py [--songs 40] [--passes 3] [--out results/examples.json]

Everything runs in this process on one core, from serialized NoteSequences (converted once,
up front) to serialized SequenceExample records held in memory (disk excluded), so the
figures compare pipelines, not file systems. Measured side by side in one run, medians of
`--passes`, songs per process-CPU-second:

* ``reference_magenta_format``: our proto-based re-implementation of Magenta's pipeline
  (sequences_lib stage by stage, golden-identical) writing Magenta's records: Magenta's
  algorithm on this machine. Magenta's own CLI, measured on this VM (shared/golden README):
  0.36 songs/s per core and 217 MB per song on POP909.
* ``ours_magenta_format``: the vectorized pipeline writing the same records.
* ``ours_compact``: the vectorized pipeline writing compact records (the default).
* ``ours_compact_untransposed``: the alternative of applying transposition in the reader:
  only the 5 stretches are written; the reader's cost of transposing ids is measured apart.

The Ray section runs the real `make_examples` job on the converted songs with 1 and 2 CPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# The big benchmark data (README "Development"): $MUSICGEN_DATA, else ../shared beside the checkout.
DATA = Path(os.environ.get("MUSICGEN_DATA") or REPO.parent / "shared")
DEFAULT_CORPUS = DATA / "datasets" / "midi" / "pop909" / "midi"
CONFIG = "performance_with_dynamics"
MAGENTA_SONGS_PER_S = 0.36
MAGENTA_BYTES_PER_SONG = 217e6


def load_sequences(corpus: Path, songs: int) -> list[bytes]:
    from musicgen.corpus.midi_fast import midi_to_note_sequence

    paths = sorted(corpus.glob("*.mid"))[:songs]
    out = []
    for path in paths:
        ns = midi_to_note_sequence(path.read_bytes())
        ns.id = f"/id/midi/pop909/{path.stem}"
        out.append(ns.SerializeToString())
    return out


def reference_magenta(record: bytes, config: Any) -> list[bytes]:
    from note_seq.protobuf.music_pb2 import NoteSequence

    from musicgen.encodings.augment import magenta_pipeline
    from musicgen.examples.magenta_format import serialize

    ns = NoteSequence.FromString(record)
    return [serialize(e) for e in magenta_pipeline(ns, config, training=True)]


def ours_magenta(record: bytes, config: Any) -> list[bytes]:
    from note_seq.protobuf.music_pb2 import NoteSequence

    from musicgen.encodings.augment import encode_events
    from musicgen.encodings.performance_fast import extract_performances
    from musicgen.examples.magenta_format import serialize_sequence_example

    ns = NoteSequence.FromString(record)
    return [
        serialize_sequence_example(inputs, labels)
        for perf in extract_performances(ns, config, True, Counter())
        for inputs, labels, _ in encode_events(perf.events, config)
    ]


def ours_compact(record: bytes, config: Any, transposed: bool = True) -> list[bytes]:
    from note_seq.protobuf.music_pb2 import NoteSequence

    from musicgen.encodings.performance_fast import extract_performances
    from musicgen.examples.compact_format import serialize_performance

    ns = NoteSequence.FromString(record)
    return [
        serialize_performance(p.events, config, id=ns.id, split="train",
                              stretch=p.stretch_factor, transpose=p.transpose, chunk=p.chunk_index)
        for p in extract_performances(ns, config, True, Counter())
        if transposed or p.transpose == 0
    ]  # fmt: skip


def measure(
    fn: Callable[[bytes, Any], list[bytes]], records: list[bytes], passes: int
) -> dict[str, Any]:
    from musicgen.encodings.performance_configs import get_config

    config = get_config(CONFIG)
    fn(records[0], config)  # imports, caches
    runs, examples, size = [], 0, 0
    for _ in range(passes):
        cpu = time.process_time()
        examples = size = 0
        for record in records:
            out = fn(record, config)
            examples += len(out)
            size += sum(len(r) + 16 for r in out)  # + TFRecord framing
        runs.append(time.process_time() - cpu)
    median = statistics.median(runs)
    return {
        "songs": len(records),
        "examples": examples,
        "songs_per_cpu_s": round(len(records) / median, 3),
        "examples_per_cpu_s": round(examples / median, 1),
        "bytes_per_song": round(size / len(records)),
        "runs_cpu_s": [round(r, 3) for r in runs],
    }


def reader_transposition_cost(records: list[bytes], passes: int) -> dict[str, Any]:
    """What the reader would pay per example to transpose compact ids itself (7 amounts)."""
    from musicgen.encodings.performance import NOTE_OFF_OFFSET, TIME_SHIFT_OFFSET
    from musicgen.encodings.performance_configs import get_config
    from musicgen.examples.compact_format import parse_performance

    config = get_config(CONFIG)
    parsed = [
        parse_performance(r).tokens for rec in records[:5] for r in ours_compact(rec, config, False)
    ]
    runs = []
    for _ in range(passes):
        cpu = time.process_time()
        for ids in parsed:
            notes = ids <= TIME_SHIFT_OFFSET
            pitch = np.where(ids < NOTE_OFF_OFFSET, ids, ids - NOTE_OFF_OFFSET)
            for amount in range(-3, 4):
                moved = pitch[notes] + amount
                if moved.min(initial=0) >= 0 and moved.max(initial=0) <= 127:
                    out = ids.copy()
                    out[notes] += amount
        runs.append(time.process_time() - cpu)
    n = len(parsed) * 7
    return {"examples": n, "examples_per_cpu_s": round(n / statistics.median(runs), 1)}


def measure_ray_job(records: list[bytes], cpus: int) -> dict[str, Any]:
    import ray

    from musicgen.config import ExamplesConfig
    from musicgen.examples.pipeline import make_examples
    from musicgen.storage.tfrecord import write_tfrecord_file

    with tempfile.TemporaryDirectory() as tmp:
        seq = Path(tmp) / "seq"
        per = max(1, len(records) // 8)
        for i in range(0, len(records), per):
            write_tfrecord_file(
                str(seq / f"notesequences-{i // per:05d}.tfrecord"), records[i : i + per]
            )
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level="ERROR")
        try:
            cfg = ExamplesConfig(input=str(seq), output=str(Path(tmp) / "warm"), encoding=CONFIG)
            make_examples(cfg)  # worker start-up and imports
            runs = []
            for i in range(2):
                t0 = time.perf_counter()
                report = make_examples(
                    ExamplesConfig(input=str(seq), output=str(Path(tmp) / f"o{i}"), encoding=CONFIG)
                )
                runs.append(time.perf_counter() - t0)
        finally:
            ray.shutdown()
    wall = statistics.median(runs)
    return {
        "cpus": cpus,
        "songs": len(records),
        "examples": sum(report.stats.examples.values()),
        "songs_per_wall_s": round(len(records) / wall, 2),
        "songs_per_s_per_core": round(len(records) / wall / cpus, 2),
        "runs_wall_s": [round(r, 3) for r in runs],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--songs", type=int, default=40)
    parser.add_argument("--reference-songs", type=int, default=4, help="the slow baseline's share")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--ray-songs", type=int, default=200, help="songs for the Ray job section")
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "examples.json"
    )
    args = parser.parse_args()
    if not args.corpus.exists():
        print(
            f"benchmark data missing: {args.corpus} (POP909, 809 MIDI files; set MUSICGEN_DATA)",
            file=sys.stderr,
        )
        sys.exit(2)
    warnings.simplefilter("ignore")
    records = load_sequences(args.corpus, args.songs)
    results: dict[str, Any] = {
        "config": CONFIG,
        "corpus": str(args.corpus.relative_to(REPO.parent))
        if args.corpus.is_relative_to(REPO.parent)
        else str(args.corpus),
        "magenta_cli_measured_here": {
            "songs_per_s_per_core": MAGENTA_SONGS_PER_S,
            "bytes_per_song": MAGENTA_BYTES_PER_SONG,
            "source": "shared/golden/magenta-performance-rnn/README.md",
        },
    }
    results["reference_magenta_format"] = measure(
        reference_magenta, records[: args.reference_songs], 1
    )
    results["ours_magenta_format"] = measure(
        ours_magenta, records[: args.reference_songs * 2], args.passes
    )
    results["ours_compact"] = measure(ours_compact, records, args.passes)
    results["ours_compact_untransposed"] = measure(
        lambda r, c: ours_compact(r, c, transposed=False), records, args.passes
    )
    results["reader_transposition"] = reader_transposition_cost(records, args.passes)
    ref = results["reference_magenta_format"]
    compact = results["ours_compact"]
    results["ratios"] = {
        "compact_vs_magenta_cli_speed": round(compact["songs_per_cpu_s"] / MAGENTA_SONGS_PER_S, 1),
        "compact_vs_reference_speed": round(compact["songs_per_cpu_s"] / ref["songs_per_cpu_s"], 1),
        "magenta_format_vs_reference_speed": round(
            results["ours_magenta_format"]["songs_per_cpu_s"] / ref["songs_per_cpu_s"], 1
        ),
        "compact_vs_magenta_format_size": round(
            ref["bytes_per_song"] / compact["bytes_per_song"], 1
        ),
        "compact_vs_magenta_cli_size": round(MAGENTA_BYTES_PER_SONG / compact["bytes_per_song"], 1),
    }
    ray_records = load_sequences(args.corpus, args.ray_songs)
    one = measure_ray_job(ray_records, 1)
    two = measure_ray_job(ray_records, 2)
    results["ray_job"] = {
        "1_cpu": one,
        "2_cpus": two,
        "parallel_efficiency": round(two["songs_per_wall_s"] / (2 * one["songs_per_wall_s"]), 2),
    }
    text = json.dumps(results, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
