"""Converts one shard of input files into one TFRecord of NoteSequences (runs inside a Ray task)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from musicgen import storage
from musicgen.corpus.convert import CONVERTED, FAILED, SKIPPED, FileOutcome, convert_file
from musicgen.corpus.sources import SourceFile
from musicgen.corpus.stats import ConversionStats
from musicgen.errors import StorageError
from musicgen.storage import layout


@dataclass(frozen=True)
class ShardTask:
    """Everything a worker needs for one shard; small and picklable."""

    index: int
    count: int
    files: tuple[SourceFile, ...]
    output: str
    collection: str
    parser: str
    max_file_bytes: int
    lenient: bool = False

    @property
    def uri(self) -> str:
        """Where this shard's TFRecord goes."""
        return storage.join(self.output, layout.sequence_shard_name(self.index, self.count))


@dataclass
class ShardResult:
    """What a shard reports back to the driver: counts, failure rows, timing."""

    index: int
    uri: str
    stats: ConversionStats
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def convert_shard(task: ShardTask) -> ShardResult:
    """Converts the shard's files one at a time, streaming records into the shard file.

    Memory is bounded by the largest single file, whatever the shard or corpus size. The shard
    object appears atomically when complete, so a retried task simply overwrites it.
    """
    started = time.perf_counter()
    result = ShardResult(task.index, task.uri, ConversionStats())
    with storage.open_writer(task.uri) as out:
        storage.tfrecord.write_records(out, _records(task, result))
    result.seconds = time.perf_counter() - started
    return result


def _records(task: ShardTask, result: ShardResult) -> Iterator[bytes]:
    for source in task.files:
        outcome = _outcome(task, source)
        result.stats.add(outcome)
        if outcome.status != CONVERTED or outcome.message:
            result.failures.append(outcome.failure_record())
        yield from outcome.sequences


def _outcome(task: ShardTask, source: SourceFile) -> FileOutcome:
    if source.size > task.max_file_bytes:
        return FileOutcome(
            source,
            SKIPPED,
            "too_large",
            f"{source.size} bytes is over max_file_bytes={task.max_file_bytes}",
        )
    try:
        data = storage.read_bytes(source.uri)
    except StorageError as exc:
        return FileOutcome(source, FAILED, "read_error", exc.message)
    outcome = convert_file(source, data, task.collection, task.parser, task.lenient)
    if outcome.status == CONVERTED and not outcome.message and outcome.sequences == []:
        return FileOutcome(source, FAILED, "no_sequences", "the reader produced no sequence")
    return outcome


def failed_shard(task: ShardTask, message: str) -> ShardResult:
    """Accounts every file of a shard whose task could not complete (e.g. its worker died)."""
    result = ShardResult(task.index, task.uri, ConversionStats())
    for source in task.files:
        outcome = FileOutcome(source, FAILED, "shard_task_failed", message)
        result.stats.add(outcome)
        result.failures.append(outcome.failure_record())
    return result
