"""The conversion job: discover the corpus, fan shards out over Ray, write stats and failures."""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from musicgen import __version__, storage
from musicgen.config import ConvertConfig
from musicgen.corpus.shard import ShardResult, ShardTask, convert_shard, failed_shard
from musicgen.corpus.sources import ACCEPTED, Discovery, default_collection, discover
from musicgen.corpus.stats import ConversionStats
from musicgen.errors import ConfigError, ObjectNotFound
from musicgen.logs import Progress
from musicgen.storage import layout

log = logging.getLogger(__name__)


@dataclass
class ConversionReport:
    """The job's outcome, as written to stats.json."""

    config: ConvertConfig
    stats: ConversionStats
    shards: list[str]
    stale_shards_removed: int
    seconds: float
    convert_seconds: float
    ignored: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """stats.json content."""
        rate = self.stats.inputs / self.convert_seconds if self.convert_seconds > 0 else 0.0
        return {
            "musicgen_version": __version__,
            "input": self.config.input,
            "output": self.config.output,
            "collection": self.config.collection,
            "parser": self.config.parser,
            **self.stats.to_dict(),
            "ignored_files": self.ignored,
            "shards": len(self.shards),
            "stale_shards_removed": self.stale_shards_removed,
            "seconds": round(self.seconds, 3),
            "convert_seconds": round(self.convert_seconds, 3),
            "files_per_second": round(rate, 2),
            "config": dataclasses.asdict(self.config),
        }

    def summary(self) -> str:
        """One line for the end of the job."""
        s = self.stats
        recovered = f", {s.recovered} of them recovered by --lenient" if s.recovered else ""
        return (
            f"converted {s.converted}/{s.inputs} files{recovered} "
            f"({s.failed} failed, {s.skipped} skipped) "
            f"into {s.sequences} NoteSequences in {len(self.shards)} shards "
            f"at {self.config.output} "
            f"in {self.seconds:.1f}s"
        )


MIN_AUTO_SHARD, MAX_AUTO_SHARD, TARGET_SHARDS = 8, 256, 16


def auto_shard_size(num_files: int) -> int:
    """Files per shard from the corpus size alone: >= 16 shards when possible, 8..256 files each."""
    return max(MIN_AUTO_SHARD, min(MAX_AUTO_SHARD, -(-num_files // TARGET_SHARDS)))


def plan_shards(discovery: Discovery, cfg: ConvertConfig, collection: str) -> list[ShardTask]:
    """Cuts the sorted file list into fixed-size shards; same corpus, same plan."""
    files = discovery.files
    size = cfg.files_per_shard or auto_shard_size(len(files))
    count = (len(files) + size - 1) // size
    return [
        ShardTask(
            index=i,
            count=count,
            files=tuple(files[i * size : (i + 1) * size]),
            output=cfg.output,
            collection=collection,
            parser=cfg.parser,
            max_file_bytes=cfg.max_file_bytes,
            lenient=cfg.lenient,
        )
        for i in range(count)
    ]


def convert_corpus(cfg: ConvertConfig) -> ConversionReport:
    """Runs the whole conversion; raises ConfigError for a missing or empty corpus."""
    started = time.monotonic()
    collection = cfg.collection if cfg.collection is not None else default_collection(cfg.input)
    # Ray workers do not run in the caller's directory: they get absolute local paths.
    cfg = dataclasses.replace(
        cfg,
        collection=collection,
        input=storage.absolute(cfg.input),
        output=storage.absolute(cfg.output),
    )
    # Before any listing or delete: an output inside the input would be converted again (and
    # its clean-up could delete corpus files), and a missing bucket should fail here, once.
    storage.check_job_paths(cfg.input, cfg.output, what="convert")
    try:
        discovery = discover(cfg.input)
    except ObjectNotFound as exc:
        raise ConfigError(f"input corpus not found: {exc}") from exc
    if not discovery.files:
        raise ConfigError(
            f"no {ACCEPTED} files under {cfg.input} "
            f"(ignored: {dict(discovery.ignored) or 'nothing there'})"
        )
    tasks = plan_shards(discovery, cfg, collection)
    log.info(
        "converting %d files from %s into %d shards (collection %r, parser %s)",
        len(discovery.files), cfg.input, len(tasks), collection, cfg.parser,
    )  # fmt: skip
    storage.makedirs(cfg.output)
    # stats.json marks a complete output: remove it first so a crashed re-run never looks complete.
    storage.delete(storage.join(cfg.output, layout.STATS))
    stats = ConversionStats()
    convert_started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="musicgen-convert-") as tmp:
        failures_path = Path(tmp) / layout.FAILURES
        with failures_path.open("w", encoding="utf-8") as failures:
            progress = Progress("files", len(discovery.files), log)
            for result in _run_on_ray(tasks, cfg):
                stats.merge(result.stats)
                for row in result.failures:
                    failures.write(json.dumps(row, ensure_ascii=False) + "\n")
                progress.advance(
                    result.stats.inputs,
                    f"{stats.failed} failed, {stats.skipped} skipped, "
                    f"{stats.parser_fallbacks} parser fallbacks",
                )
        convert_seconds = time.monotonic() - convert_started
        storage.upload_file(str(failures_path), storage.join(cfg.output, layout.FAILURES))
    shards = [t.uri for t in tasks]
    removed = _remove_stale_shards(cfg.output, {storage.basename(u) for u in shards})
    if not stats.consistent:  # a bug, never bad data: refuse to call the output complete
        raise RuntimeError(f"conversion counts do not add up: {stats.to_dict()}")
    report = ConversionReport(
        cfg, stats, shards, removed, time.monotonic() - started, convert_seconds,
        dict(discovery.ignored),
    )  # fmt: skip
    storage.write_text(
        storage.join(cfg.output, layout.STATS), json.dumps(report.to_dict(), indent=2) + "\n"
    )
    return report


def _remove_stale_shards(output: str, keep: set[str]) -> int:
    """Deletes shards of an earlier run with a different plan, so no record appears twice.

    Only ``notesequences-NNNNN-of-MMMMM.tfrecord`` directly in ``output`` is ours: the listing
    is not recursive, so another dataset stored below the output (or beside it under a name
    that merely starts the same, ``output2/``) is never touched.
    """
    removed = 0
    for info in storage.list_files(output, recursive=False):
        name = storage.basename(info.uri)
        if layout.is_sequence_shard(name) and name not in keep:
            storage.delete(info.uri)
            removed += 1
    if removed:
        log.info("removed %d stale shards from an earlier run in %s", removed, output)
    return removed


def _run_on_ray(tasks: list[ShardTask], cfg: ConvertConfig) -> Iterator[ShardResult]:
    """Yields shard results as they finish, keeping a bounded number of shards in flight."""
    from musicgen.ray_tasks import run_tasks

    return run_tasks(
        convert_shard,
        tasks,
        failed=failed_shard,
        retry=_retry_with_reference_parser,
        address=cfg.address,
        num_cpus=cfg.num_cpus,
        max_in_flight_per_cpu=cfg.max_in_flight,
    )


def _retry_with_reference_parser(
    task: ShardTask, exc: BaseException, attempt: int
) -> ShardTask | None:
    """Last resort for a shard whose worker kept dying: once more, with note_seq's parser."""
    if attempt == 0 and task.parser != "note_seq":
        log.warning("shard %d failed (%s); retrying with note_seq", task.index, exc)
        return dataclasses.replace(task, parser="note_seq")
    return None
