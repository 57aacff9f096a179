"""The examples job: NoteSequence shards -> SequenceExample shards per split, fanned out on Ray.

One Ray task per input shard writes one output shard per split, numbered like its input, so a
re-run plans the same names and overwrites them; shards left from an earlier plan are removed.
``stats.json`` is written last and marks a complete output.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from musicgen import __version__, storage
from musicgen.config import ExamplesConfig
from musicgen.errors import ConfigError, ObjectNotFound
from musicgen.examples.shard import (
    PIANOROLL,
    SPLITS,
    ExamplesResult,
    ExamplesTask,
    failed_task,
    make_examples_shard,
)
from musicgen.examples.stats import ExamplesStats
from musicgen.logs import Progress
from musicgen.storage import layout

log = logging.getLogger(__name__)

SEQUENCE_SUFFIXES = (".tfrecord", ".tfrecord.gz")


@dataclass
class ExamplesReport:
    """The job's outcome, as written to stats.json."""

    config: ExamplesConfig
    stats: ExamplesStats
    input_shards: list[str]
    stale_shards_removed: int
    seconds: float
    chord_vocabulary_size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """stats.json content."""
        rate = self.stats.inputs / self.seconds if self.seconds > 0 else 0.0
        return {
            "musicgen_version": __version__,
            "input": self.config.input,
            "output": self.config.output,
            "encoding": self.config.encoding,
            "format": self.config.format,
            **self.stats.to_dict(),
            "input_shards": len(self.input_shards),
            "stale_shards_removed": self.stale_shards_removed,
            "chord_vocabulary_size": self.chord_vocabulary_size,
            "seconds": round(self.seconds, 3),
            "sequences_per_second": round(rate, 2),
            "config": dataclasses.asdict(self.config),
        }

    def summary(self) -> str:
        """One line for the end of the job."""
        s = self.stats
        per_split = ", ".join(f"{n} {split}" for split, n in sorted(s.examples.items()))
        return (
            f"{s.converted}/{s.inputs} sequences gave examples ({s.skipped} skipped, "
            f"{s.failed} failed): {per_split or 'no'} examples "
            f"({self.config.encoding}, {self.config.format}) at {self.config.output} "
            f"in {self.seconds:.1f}s"
        )


def check_encoding(cfg: ExamplesConfig) -> None:
    """Rejects unknown encodings and impossible format combinations before any work starts."""
    from musicgen.encodings.performance_configs import CONFIGS

    if cfg.encoding != PIANOROLL and cfg.encoding not in CONFIGS:
        raise ConfigError(
            f"examples: unknown encoding {cfg.encoding!r}; known: {sorted(CONFIGS)} and "
            f"{PIANOROLL!r}"
        )
    if cfg.encoding == PIANOROLL and cfg.format == "magenta":
        raise ConfigError("examples: --format magenta exists only for PerformanceRNN encodings")


def find_sequence_shards(uri: str) -> list[str]:
    """The NoteSequence TFRecords at ``uri``: the file itself, or those in the folder, sorted.

    Raises:
        ConfigError: If there are none (a missing local folder counts as none).
        BucketNotFound: If ``uri``'s bucket does not exist (never taken for an empty folder).
    """
    if uri.endswith(SEQUENCE_SUFFIXES) and storage.exists(uri):
        return [uri]
    try:
        infos = list(storage.list_files(uri, recursive=True))
    except ObjectNotFound:
        infos = []
    shards = sorted(i.uri for i in infos if i.uri.endswith(SEQUENCE_SUFFIXES))
    if shards:
        return shards
    raise ConfigError(f"no NoteSequence TFRecords (*.tfrecord, *.tfrecord.gz) at {uri}")


def plan_tasks(cfg: ExamplesConfig, shards: list[str]) -> list[ExamplesTask]:
    """One task per input shard; output shard names follow the input's sorted position."""
    return [
        ExamplesTask(
            index=i,
            count=len(shards),
            input_uri=uri,
            output=cfg.output,
            encoding=cfg.encoding,
            format=cfg.format,
            eval_ratio=cfg.eval_ratio,
            augment=cfg.augment_notesequences,
            steps_per_quarter=cfg.steps_per_quarter,
        )
        for i, uri in enumerate(shards)
    ]


def make_examples(cfg: ExamplesConfig) -> ExamplesReport:
    """Runs the whole job; raises ConfigError for bad settings or a missing input."""
    check_encoding(cfg)
    # Ray workers do not run in the caller's directory: they get absolute local paths.
    cfg = dataclasses.replace(
        cfg, input=storage.absolute(cfg.input), output=storage.absolute(cfg.output)
    )
    if cfg.input.endswith(".pickle"):
        from musicgen.examples.benchmark_datasets import make_benchmark_examples

        return make_benchmark_examples(cfg)
    started = time.monotonic()
    # Before any listing or delete: an output inside the input would be read back as input,
    # an input inside the output could be removed as stale, a missing bucket fails here once.
    storage.check_job_paths(cfg.input, cfg.output, what="examples")
    shards = find_sequence_shards(cfg.input)
    tasks = plan_tasks(cfg, shards)
    log.info(
        "making %s examples (%s) from %d NoteSequence shards at %s",
        cfg.encoding, cfg.format, len(tasks), cfg.input,
    )  # fmt: skip
    storage.makedirs(cfg.output)
    storage.delete(storage.join(cfg.output, layout.STATS))  # a crashed re-run never looks done
    stats = ExamplesStats()
    chords: Counter[tuple[int, ...]] = Counter()
    with tempfile.TemporaryDirectory(prefix="musicgen-examples-") as tmp:
        failures_path = Path(tmp) / layout.FAILURES
        with failures_path.open("w", encoding="utf-8") as failures:
            progress = Progress("shards", len(tasks), log)
            for result in _run_on_ray(tasks, cfg):
                stats.merge(result.stats)
                chords.update(result.chord_counts)
                for row in result.failures:
                    failures.write(json.dumps(row, ensure_ascii=False) + "\n")
                progress.advance(
                    1,
                    f"{stats.inputs} sequences, {sum(stats.examples.values())} examples, "
                    f"{stats.failed} failed",
                )
        storage.upload_file(str(failures_path), storage.join(cfg.output, layout.FAILURES))
    keep = {layout.example_shard_name(s, t.index, t.count, cfg.format == "magenta")
            for t in tasks for s in SPLITS}  # fmt: skip
    removed = remove_stale_shards(cfg.output, keep, SPLITS)
    vocabulary_size = write_side_files(cfg, chords, SPLITS)
    if not stats.consistent:  # a bug, never bad data: refuse to call the output complete
        raise RuntimeError(f"examples counts do not add up: {stats.to_dict()}")
    report = ExamplesReport(
        cfg, stats, shards, removed, time.monotonic() - started, vocabulary_size
    )
    storage.write_text(
        storage.join(cfg.output, layout.STATS), json.dumps(report.to_dict(), indent=2) + "\n"
    )
    return report


def write_side_files(
    cfg: ExamplesConfig,
    chords: Counter[tuple[int, ...]],
    splits: tuple[str, ...],
    *,
    transpositions: tuple[int, ...] = (0,),
) -> int | None:
    """encoding.json, and chords.json for piano rolls; returns the vocabulary size if any.

    ``transpositions`` are the piano-roll training copies written (the benchmark pickles').
    """
    from musicgen.examples.encoding_info import EncodingInfo, write_encoding_info

    if cfg.encoding == PIANOROLL:
        from musicgen.encodings.chords import ChordVocabulary

        ratio = cfg.eval_ratio if splits == ("train", "eval") else None
        info = EncodingInfo.for_pianoroll(
            cfg.steps_per_quarter, splits, transpositions=transpositions, eval_ratio=ratio
        )
        write_encoding_info(cfg.output, info)
        vocabulary = ChordVocabulary.from_counts(chords)
        storage.write_text(
            storage.join(cfg.output, layout.CHORD_VOCABULARY), vocabulary.to_json() + "\n"
        )
        return vocabulary.size
    info = EncodingInfo.for_performance(
        cfg.encoding, "magenta" if cfg.format == "magenta" else "compact", cfg.eval_ratio
    )
    if not cfg.augment_notesequences:
        info = dataclasses.replace(info, stretch_factors=(1.0,), transpositions=(0,))
    write_encoding_info(cfg.output, info)
    return None


def remove_stale_shards(output: str, keep: set[str], splits: tuple[str, ...]) -> int:
    """Deletes example shards of an earlier plan, so that no example is read twice.

    Only the job's own layout is touched: shard-named files directly in ``output/<split>/``
    for the splits this job writes, each folder listed non-recursively. Other datasets
    stored below ``output`` (``output/ds1/train/...``) or beside it (``output2/``) are not
    ours and survive.

    Args:
        output: The job's output folder.
        keep: Shards this run wrote, relative to ``output`` (``train/examples-...``).
        splits: The split folders this job writes.

    Returns:
        How many shards were deleted.
    """
    removed = 0
    for split in splits:
        for info in _split_files(storage.join(output, split)):
            name = storage.basename(info.uri)
            if layout.is_example_shard(name) and f"{split}/{name}" not in keep:
                storage.delete(info.uri)
                removed += 1
    if removed:
        log.info("removed %d stale example shards from an earlier run in %s", removed, output)
    return removed


def _split_files(folder: str) -> list[storage.FileInfo]:
    """The files directly in one split folder; a folder that is not there holds none."""
    try:
        return list(storage.list_files(folder, recursive=False))
    except ObjectNotFound:
        return []


def _run_on_ray(tasks: list[ExamplesTask], cfg: ExamplesConfig) -> Iterator[ExamplesResult]:
    from musicgen.ray_tasks import run_tasks

    return run_tasks(
        make_examples_shard,
        tasks,
        failed=failed_task,
        address=cfg.address,
        num_cpus=cfg.num_cpus,
        max_in_flight_per_cpu=cfg.max_in_flight,
    )
