"""Example records streamed from shard files through :mod:`musicgen.storage`, for tf.data.

TensorFlow's own file system would open ``gs://`` with a second GCS client that cannot reach an
emulator and bypasses our credentials and errors, so the readers never hand it a URI: every byte
comes through :func:`storage.open_reader` (a local file is opened in place; an object is
downloaded, checksummed by the client, to a temporary file that is removed once its records are
read). Each record's two CRCs are verified as it is framed (:mod:`musicgen.storage.tfrecord`).

Files are staged ahead of the reader by a small thread pool: at most ``cycle + prefetch`` of them
are open (so on local disk) at once, whatever the dataset's size, and downloads overlap with
training. The order is the one the readers documented when tf.data opened the files itself:

* files are dealt to workers by index (file ``i`` to worker ``i % num_shards``) when there are at
  least as many files as workers; otherwise every worker reads every file and keeps every
  ``num_shards``-th record of the interleaved stream;
* shuffled, each pass takes the worker's files in a fresh seeded order and interleaves records
  from ``cycle`` open files round-robin; unshuffled, files are read one after the other.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, cast

import numpy as np

from musicgen import storage
from musicgen.storage import tfrecord

DEFAULT_CYCLE = 8
DEFAULT_PREFETCH = 2
GZIP_SUFFIX = ".gz"


@dataclass(frozen=True)
class ShardPlan:
    """Which files one worker reads, and how it takes its part of their records."""

    files: tuple[str, ...]
    num_shards: int
    shard_index: int
    by_file: bool

    @classmethod
    def for_worker(cls, files: Sequence[str], num_shards: int, shard_index: int) -> ShardPlan:
        """Deals files to workers by index when there are enough, else shards by record."""
        by_file = len(files) >= num_shards
        mine = tuple(files)[shard_index::num_shards] if by_file else tuple(files)
        return cls(mine, num_shards, shard_index, by_file)


class _StagedFile:
    """One shard opened through storage (downloaded first when remote), read record by record."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._stack = contextlib.ExitStack()
        try:
            stream: IO[bytes] = self._stack.enter_context(storage.open_reader(uri))
            if uri.endswith(GZIP_SUFFIX):  # Magenta's golden files are GZIP TFRecords
                unzipped = gzip.GzipFile(fileobj=stream, mode="rb")
                self._stack.callback(unzipped.close)
                stream = cast(IO[bytes], unzipped)
        except BaseException:
            self._stack.close()
            raise
        self.records = tfrecord.read_records(stream, uri=uri)

    def close(self) -> None:
        self._stack.close()


def _file_order(plan: ShardPlan, shuffle: bool, seed: int, epoch: int) -> list[str]:
    if not shuffle or not plan.by_file:
        return list(plan.files)
    rng = np.random.default_rng([seed, epoch])
    return [plan.files[i] for i in rng.permutation(len(plan.files))]


def _interleave(
    order: list[str], cycle: int, prefetch: int, pool: ThreadPoolExecutor
) -> Iterator[bytes]:
    """Records of ``order``'s files, ``cycle`` files at a time, one record from each in turn."""
    pending: deque[Future[_StagedFile]] = deque()
    upcoming = iter(order)

    def stage_more(limit: int) -> None:
        while len(pending) < limit:
            uri = next(upcoming, None)
            if uri is None:
                return
            pending.append(pool.submit(_StagedFile, uri))

    open_files: deque[_StagedFile] = deque()
    try:
        while True:
            stage_more(cycle - len(open_files) + prefetch)
            while len(open_files) < cycle and pending:
                open_files.append(pending.popleft().result())
                stage_more(cycle - len(open_files) + prefetch)
            if not open_files:
                return
            current = open_files.popleft()
            record = next(current.records, None)
            if record is None:
                current.close()
                continue
            yield record
            open_files.append(current)
    finally:
        for staged in open_files:
            staged.close()
        for future in pending:
            if not future.cancel():
                with contextlib.suppress(Exception):
                    future.result().close()


def stream_records(
    plan: ShardPlan,
    *,
    shuffle: bool,
    seed: int,
    repeat: bool,
    first_epoch: int = 0,
    cycle: int = DEFAULT_CYCLE,
    prefetch: int = DEFAULT_PREFETCH,
) -> Iterator[bytes]:
    """Yields this worker's serialized records, pass after pass when ``repeat``.

    Args:
        plan: The worker's files and sharding.
        shuffle: Take files in a seeded random order each pass and interleave ``cycle`` of them.
        seed: The file-order seed; pass ``e`` uses ``(seed, first_epoch + e)``.
        repeat: Loop forever, reshuffling each pass.
        first_epoch: The number of the first pass (so a re-created stream reshuffles).
        cycle: Files interleaved at once when shuffling.
        prefetch: Files staged ahead of those being read.

    Raises:
        ObjectNotFound: A shard vanished.
        CorruptRecordError: A record fails its CRC or is cut off (names the file and offset).
        StorageError: Any other read failure, naming the URI.
    """
    width = min(cycle, len(plan.files)) if shuffle else 1
    epochs = itertools.count(first_epoch) if repeat else iter([first_epoch])
    with ThreadPoolExecutor(max_workers=max(1, prefetch), thread_name_prefix="shards") as pool:
        for epoch in epochs:
            records = _interleave(_file_order(plan, shuffle, seed, epoch), width, prefetch, pool)
            if not plan.by_file:
                records = itertools.islice(records, plan.shard_index, None, plan.num_shards)
            yield from records
