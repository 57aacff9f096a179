"""Conversion speed: files/s per core and peak RSS, ours vs note_seq, and Ray 1 -> 2 worker scaling.

    .venv/bin/python benchmarks/convert.py [--corpus DIR] [--passes 3] [--out results/convert.json]

Each parser runs in its own subprocess over the same in-memory file bytes (disk excluded), so its
peak RSS is its own; throughput is files per process-CPU-second and per wall second, median of
`--passes`. The fast parser's output is compared with note_seq's for every file in the same run.
The Ray section converts the whole corpus with the real pipeline at 1 and 2 CPUs, each after a
warm-up pass (worker start-up and imports excluded), and reports parallel efficiency.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# The big benchmark data (README "Development"): $MUSICGEN_DATA, else ../shared beside the checkout.
DATA = Path(os.environ.get("MUSICGEN_DATA") or REPO.parent / "shared")
DEFAULT_CORPUS = DATA / "datasets" / "midi" / "pop909" / "midi"


def load(corpus: Path, limit: int | None) -> list[bytes]:
    paths = sorted(corpus.glob("*.mid"))[:limit]
    return [p.read_bytes() for p in paths]


def parse_function(parser: str) -> Any:
    if parser == "note_seq":
        from musicgen.corpus.reference import midi_to_note_sequence

        return midi_to_note_sequence
    if parser == "fast":
        from musicgen.corpus.midi_fast import midi_to_note_sequence

        return midi_to_note_sequence
    if parser == "symusic_parse_only":
        import symusic

        return lambda data: symusic.Score.from_midi(data, ttype="second")
    raise ValueError(parser)


def measure_parser(parser: str, corpus: Path, passes: int, limit: int | None) -> dict[str, Any]:
    """Runs in a subprocess: throughput of one parser over the corpus, and its peak RSS."""
    datas = load(corpus, limit)
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    fn = parse_function(parser)
    fn(datas[0])  # imports, JIT compilation
    first_call_s = time.perf_counter() - t0
    runs = []
    for _ in range(passes):
        wall, cpu = time.perf_counter(), time.process_time()
        for data in datas:
            fn(data)
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    return {
        "parser": parser,
        "files": len(datas),
        "bytes": sum(map(len, datas)),
        "first_call_s": round(first_call_s, 3),
        "files_per_cpu_s": round(len(datas) / statistics.median(c for _, c in runs), 1),
        "files_per_wall_s": round(len(datas) / statistics.median(w for w, _ in runs), 1),
        "runs_wall_s": [round(w, 3) for w, _ in runs],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def check_identical(corpus: Path, limit: int | None) -> dict[str, Any]:
    """Fast vs note_seq on every file: equal protos, or the same rejection."""
    warnings.simplefilter("ignore")
    from musicgen.corpus.midi_fast import MidiParseError, midi_to_note_sequence
    from musicgen.corpus.reference import ReferenceConversionError
    from musicgen.corpus.reference import midi_to_note_sequence as reference

    counts = {"identical": 0, "different": 0, "both_rejected": 0, "fast_declined": 0}
    different = []
    for path in sorted(corpus.glob("*.mid"))[:limit]:
        data = path.read_bytes()
        try:
            expected = reference(data)
        except ReferenceConversionError:
            expected = None
        try:
            got = midi_to_note_sequence(data)
        except MidiParseError:
            got = None
        if expected is None and got is None:
            counts["both_rejected"] += 1
        elif got is None:
            counts["fast_declined"] += 1  # falls back to note_seq in the pipeline
        elif got == expected:
            counts["identical"] += 1
        else:
            counts["different"] += 1
            different.append(path.name)
    return {**counts, "different_files": different[:20]}


def measure_pipeline(corpus: Path, cpus: int, passes: int) -> dict[str, Any]:
    """Runs in a subprocess: the real Ray conversion job at `cpus` CPUs, warm workers."""
    import logging

    import ray

    from musicgen.config import ConvertConfig
    from musicgen.corpus.pipeline import convert_corpus

    ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level=logging.ERROR)
    files_per_shard = 16
    with tempfile.TemporaryDirectory() as out:
        cfg = ConvertConfig(input=str(corpus), output=out, files_per_shard=files_per_shard)
        convert_corpus(cfg)  # warm-up: starts workers, imports note_seq, loads numba's cache
        runs = [convert_corpus(cfg) for _ in range(passes)]
    ray.shutdown()
    seconds = statistics.median(r.convert_seconds for r in runs)
    files = runs[0].stats.inputs
    return {
        "cpus": cpus,
        "files": files,
        "files_per_shard": files_per_shard,
        "convert_s_runs": [round(r.convert_seconds, 3) for r in runs],
        "files_per_s": round(files / seconds, 1),
        "files_per_s_per_core": round(files / seconds / cpus, 1),
    }


def subprocess_json(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark step {args} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="first N files only")
    ap.add_argument("--parsers", default="note_seq,fast,symusic_parse_only")
    ap.add_argument("--skip-pipeline", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "convert.json")
    ap.add_argument("--step", help=argparse.SUPPRESS)  # internal: one measurement per subprocess
    args = ap.parse_args()
    if not args.corpus.exists():
        print(
            f"benchmark data missing: {args.corpus} (POP909, 809 MIDI files; set MUSICGEN_DATA)",
            file=sys.stderr,
        )
        sys.exit(2)

    if args.step:
        kind, _, value = args.step.partition(":")
        if kind == "parser":
            result = measure_parser(value, args.corpus, args.passes, args.limit)
        elif kind == "identical":
            result = check_identical(args.corpus, args.limit)
        else:
            result = measure_pipeline(args.corpus, int(value), args.passes)
        print(json.dumps(result))
        return

    common = ["--corpus", str(args.corpus), "--passes", str(args.passes)]
    if args.limit:
        common += ["--limit", str(args.limit)]
    parsers = {
        p: subprocess_json("--step", f"parser:{p}", *common) for p in args.parsers.split(",")
    }
    report: dict[str, Any] = {
        "corpus": str(args.corpus),
        "machine": {"cpus": len(__import__("os").sched_getaffinity(0))},
        "parsers": parsers,
        "identical": subprocess_json("--step", "identical", *common),
    }
    if "fast" in parsers and "note_seq" in parsers:
        report["speedup_fast_vs_note_seq_per_core"] = round(
            parsers["fast"]["files_per_cpu_s"] / parsers["note_seq"]["files_per_cpu_s"], 1
        )
    if not args.skip_pipeline:
        one = subprocess_json("--step", "pipeline:1", *common)
        two = subprocess_json("--step", "pipeline:2", *common)
        report["pipeline"] = {
            "1_worker": one,
            "2_workers": two,
            "parallel_efficiency_1_to_2": round(two["files_per_s"] / (2 * one["files_per_s"]), 3),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
