"""One NoteSequence shard -> one examples shard per split (runs inside a Ray task).

Records stream from the input (a gs:// object is first copied to a local temp file) straight
into per-split local files, which are uploaded when complete, so a worker's memory is bounded by
one sequence's examples whatever the shard size, and a retried task just overwrites its outputs.
Bad data never raises: a corrupt record, an unparsable proto or an error inside the pipeline
is counted and recorded, and the rest of the shard goes on.
"""

from __future__ import annotations

import gzip
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from musicgen import storage
from musicgen.errors import StorageError
from musicgen.examples import stats as outcome
from musicgen.examples.split import EVAL, TRAIN, assign_split
from musicgen.examples.stats import ExamplesStats
from musicgen.storage import layout
from musicgen.storage.tfrecord import CorruptRecordError, encode_record, read_records_lenient

PIANOROLL = "pianoroll"
FORMATS = ("compact", "magenta")
SPLITS = (TRAIN, EVAL)


@dataclass(frozen=True)
class ExamplesTask:
    """Everything a worker needs for one input shard; small and picklable.

    Attributes:
        index: This shard's number; output shards are numbered like the input shards.
        count: Number of input shards.
        input_uri: A TFRecord of serialized NoteSequences (``.gz`` read as gzip).
        output: The dataset folder; shards go to ``<output>/<split>/``.
        encoding: A PerformanceRNN config name, or ``"pianoroll"``.
        format: ``"compact"`` or ``"magenta"`` (PerformanceRNN configs only).
        eval_ratio: Fraction of sequences (by id hash) that go to eval.
        augment: Stretch and transpose the training split, as Magenta does.
        steps_per_quarter: Piano-roll resolution.
    """

    index: int
    count: int
    input_uri: str
    output: str
    encoding: str
    format: str = "compact"
    eval_ratio: float = 0.1
    augment: bool = True
    steps_per_quarter: int = 4

    def output_uri(self, split: str) -> str:
        """Where this shard's examples of ``split`` go."""
        name = layout.example_shard_name(split, self.index, self.count, self.format == "magenta")
        return storage.join(self.output, name)


@dataclass
class ExamplesResult:
    """What a shard reports back: counts, failure rows, chord counts of its training rolls."""

    index: int
    input_uri: str
    stats: ExamplesStats
    failures: list[dict[str, Any]] = field(default_factory=list)
    chord_counts: Counter[tuple[int, ...]] = field(default_factory=Counter)
    seconds: float = 0.0


def make_examples_shard(task: ExamplesTask) -> ExamplesResult:
    """Converts every NoteSequence of one input shard; never raises for bad data."""
    started = time.perf_counter()
    result = ExamplesResult(task.index, task.input_uri, ExamplesStats())
    encoder = _encoder(task)
    with tempfile.TemporaryDirectory(prefix="musicgen-examples-") as tmp:
        paths = {split: Path(tmp) / split for split in SPLITS}
        files: dict[str, IO[bytes]] = {split: path.open("wb") for split, path in paths.items()}
        try:
            for index, record in _read(task.input_uri, result):
                _convert_one(record, index, task, encoder, files, result)
        finally:
            for f in files.values():
                f.close()
        for split, path in paths.items():
            storage.upload_file(str(path), task.output_uri(split))
    result.seconds = time.perf_counter() - started
    return result


def failed_task(task: ExamplesTask, message: str) -> ExamplesResult:
    """Accounts for a shard whose task could not complete (its worker kept dying)."""
    result = ExamplesResult(task.index, task.input_uri, ExamplesStats())
    _fail(result, task.input_uri, None, "shard_task_failed", message)
    return result


def _read(uri: str, result: ExamplesResult) -> Iterator[tuple[int, bytes]]:
    """Good records with their index; damage is counted as failed inputs and reading goes on."""
    index = 0
    try:
        with storage.open_reader(uri) as raw:
            stream = cast(IO[bytes], gzip.GzipFile(fileobj=raw)) if uri.endswith(".gz") else raw
            for item in read_records_lenient(stream, uri=uri):
                if isinstance(item, CorruptRecordError):
                    _fail(result, uri, index, "corrupt_record", item.message)
                else:
                    yield index, item
                index += 1
    except (StorageError, OSError, EOFError, zlib.error) as exc:
        # Unreadable from here on (missing object, broken gzip stream): one failure for the rest.
        _fail(result, uri, index, "unreadable_input", f"{type(exc).__name__}: {exc}")


def _fail(
    result: ExamplesResult, uri: str, index: int | None, reason: str, message: str, **extra: Any
) -> None:
    result.stats.add(outcome.FAILED, reason)
    row = {"uri": uri, "record": index, **extra}
    result.failures.append({**row, "outcome": outcome.FAILED, "reason": reason, "message": message})


def _convert_one(
    record: bytes,
    index: int,
    task: ExamplesTask,
    encoder: _Encoder,
    files: dict[str, IO[bytes]],
    result: ExamplesResult,
) -> None:
    from google.protobuf.message import DecodeError
    from note_seq.protobuf.music_pb2 import NoteSequence

    try:
        ns = NoteSequence.FromString(record)
    except DecodeError as exc:
        _fail(result, task.input_uri, index, "bad_notesequence", f"not a NoteSequence: {exc}")
        return
    where = {"id": ns.id, "filename": ns.filename}
    split = assign_split(ns.id or f"{task.input_uri}#{index}", task.eval_ratio)
    out = files[split]
    start = out.tell()
    counters: Counter[str] = Counter()
    written = size = 0
    try:
        for example in encoder.encode(ns, split, counters, result.chord_counts):
            framed = encode_record(example)
            out.write(framed)
            written += 1
            size += len(framed)
    except Exception as exc:  # noqa: BLE001 - one bad sequence must not end the shard
        out.seek(start)
        out.truncate()  # no partial output for a sequence that failed half-way
        _fail(result, task.input_uri, index, "pipeline_error", f"{type(exc).__name__}: {exc}",
              **where)  # fmt: skip
        return
    result.stats.pipeline.update(counters)
    result.stats.sequences_by_split[split] += 1
    if written:
        result.stats.add(outcome.CONVERTED)
        result.stats.examples[split] += written
        result.stats.bytes_written[split] += size
        return
    reason, message = _why_no_examples(ns, counters)
    result.stats.add(outcome.SKIPPED, reason)
    result.failures.append(
        {"uri": task.input_uri, "record": index, **where, "outcome": outcome.SKIPPED,
         "reason": reason, "message": message}
    )  # fmt: skip


def _why_no_examples(ns: Any, counters: Counter[str]) -> tuple[str, str]:
    """The reason slug and message for a sequence that produced nothing."""
    if not ns.notes:
        return "no_notes", "the sequence has no notes"
    discards = Counter(
        {k.split("_", 3)[-1]: v for k, v in counters.items() if "discarded" in k and v}
    )
    if not discards:
        return "no_examples", "no example survived the pipeline (no pitched notes in range?)"
    reason = discards.most_common(1)[0][0]
    detail = ", ".join(f"{k}: {v}" for k, v in discards.most_common())
    return reason, f"every chunk was discarded ({detail})"


class _Encoder:
    """Turns one NoteSequence into serialized examples for one encoding and format."""

    def __init__(self, task: ExamplesTask) -> None:
        self.task = task

    def encode(
        self, ns: Any, split: str, counters: Counter[str], chords: Counter[tuple[int, ...]]
    ) -> Iterator[bytes]:
        raise NotImplementedError


class _PerformanceEncoder(_Encoder):
    def __init__(self, task: ExamplesTask) -> None:
        from musicgen.encodings.performance_configs import get_config

        super().__init__(task)
        self.config = get_config(task.encoding)

    def encode(
        self, ns: Any, split: str, counters: Counter[str], chords: Counter[tuple[int, ...]]
    ) -> Iterator[bytes]:
        from musicgen.encodings.augment import encode_events
        from musicgen.encodings.performance_fast import extract_performances
        from musicgen.examples.compact_format import serialize_performance
        from musicgen.examples.magenta_format import serialize_sequence_example

        config, magenta = self.config, self.task.format == "magenta"
        training = split == TRAIN and self.task.augment
        flags: tuple[bool | None, ...] = (True, False) if config.optional_conditioning else (None,)
        for perf in extract_performances(ns, config, training, counters):
            if magenta:
                for inputs, labels, _ in encode_events(perf.events, config):
                    yield serialize_sequence_example(inputs, labels)
                continue
            for conditioned in flags:
                yield serialize_performance(
                    perf.events,
                    config,
                    id=ns.id,
                    split=split,
                    stretch=perf.stretch_factor,
                    transpose=perf.transpose,
                    chunk=perf.chunk_index,
                    conditioned=conditioned,
                )


class _PianorollEncoder(_Encoder):
    def __init__(self, task: ExamplesTask) -> None:
        from musicgen.encodings.pianoroll import PianorollEncodingConfig

        super().__init__(task)
        self.config = PianorollEncodingConfig(steps_per_quarter=task.steps_per_quarter)

    def encode(
        self, ns: Any, split: str, counters: Counter[str], chords: Counter[tuple[int, ...]]
    ) -> Iterator[bytes]:
        from musicgen.encodings import pianoroll
        from musicgen.encodings.chords import count_chords
        from musicgen.examples.compact_format import serialize_pianoroll

        roll = pianoroll.encode(ns, self.config)
        counters["pianoroll_frames"] += roll.num_steps
        counters["pianoroll_notes_dropped_out_of_range"] += roll.dropped_out_of_range
        counters["pianoroll_drum_notes_dropped"] += roll.dropped_drums
        if not roll.frames.any():
            return
        if split == TRAIN:
            chords.update(count_chords(roll.frames, roll.min_pitch))
        yield serialize_pianoroll(roll, id=ns.id, split=split)


def _encoder(task: ExamplesTask) -> _Encoder:
    return _PianorollEncoder(task) if task.encoding == PIANOROLL else _PerformanceEncoder(task)
