"""Records streamed from shards through storage: sharding, order, bounded staging, damage."""

from __future__ import annotations

import contextlib
import gzip
import itertools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from musicgen import storage
from musicgen.examples import record_stream
from musicgen.examples.record_stream import ShardPlan, stream_records
from musicgen.storage import tfrecord
from musicgen.storage.tfrecord import CorruptRecordError


def _write_shards(folder: Path, counts: list[int]) -> list[str]:
    files = []
    for index, count in enumerate(counts):
        path = folder / f"examples-{index:05d}-of-{len(counts):05d}.tfrecord"
        records = [f"f{index}-r{r}".encode() for r in range(count)]
        tfrecord.write_tfrecord_file(str(path), records)
        files.append(str(path))
    return files


def _all(plan: ShardPlan, **kwargs: object) -> list[bytes]:
    options = {"shuffle": False, "seed": 0, "repeat": False} | kwargs
    return list(stream_records(plan, **options))  # type: ignore[arg-type]


def test_unshuffled_is_file_order(tmp_path: Path) -> None:
    files = _write_shards(tmp_path, [3, 0, 2])
    got = _all(ShardPlan.for_worker(files, 1, 0))
    assert got == [b"f0-r0", b"f0-r1", b"f0-r2", b"f2-r0", b"f2-r1"]


def test_workers_partition_by_file_and_by_record(tmp_path: Path) -> None:
    files = _write_shards(tmp_path, [4, 3, 5])
    everything = sorted(_all(ShardPlan.for_worker(files, 1, 0)))
    for workers in (2, 3, 5):  # 5 > 3 files: every worker reads all, keeps every 5th record
        parts = [
            _all(ShardPlan.for_worker(files, workers, r), shuffle=True) for r in range(workers)
        ]
        assert sorted(itertools.chain.from_iterable(parts)) == everything
        assert sum(len(p) for p in parts) == len(everything)
    assert ShardPlan.for_worker(files, 2, 1).files == (files[1],)
    assert ShardPlan.for_worker(files, 5, 3).by_file is False


def test_shuffle_is_seeded_per_pass(tmp_path: Path) -> None:
    files = _write_shards(tmp_path, [2] * 12)
    plan = ShardPlan.for_worker(files, 1, 0)
    first = _all(plan, shuffle=True, seed=7)
    assert first == _all(plan, shuffle=True, seed=7)
    assert first != _all(plan, shuffle=True, seed=8)
    assert first != _all(plan, shuffle=True, seed=7, first_epoch=1)
    assert sorted(first) == sorted(_all(plan))
    # Interleaved: the first records come from several files, not one file after another.
    assert len({r.split(b"-")[0] for r in first[:8]}) == 8


def test_repeat_reshuffles_each_pass(tmp_path: Path) -> None:
    files = _write_shards(tmp_path, [3] * 6)
    stream = stream_records(ShardPlan.for_worker(files, 1, 0), shuffle=True, seed=1, repeat=True)
    passes = [list(itertools.islice(stream, 18)) for _ in range(3)]
    assert all(sorted(p) == sorted(passes[0]) for p in passes)
    assert passes[0] != passes[1]


def test_gzip_shards(tmp_path: Path) -> None:
    plain = _write_shards(tmp_path, [3])[0]
    zipped = tmp_path / "magenta.tfrecord.gz"
    zipped.write_bytes(gzip.compress(Path(plain).read_bytes()))
    assert _all(ShardPlan.for_worker([str(zipped)], 1, 0)) == [b"f0-r0", b"f0-r1", b"f0-r2"]


def test_a_corrupt_record_names_the_file(tmp_path: Path) -> None:
    files = _write_shards(tmp_path, [2, 2])
    data = bytearray(Path(files[1]).read_bytes())
    data[-1] ^= 0xFF  # the last record's data CRC
    Path(files[1]).write_bytes(bytes(data))
    with pytest.raises(CorruptRecordError, match=r"examples-00001-of-00002\.tfrecord"):
        _all(ShardPlan.for_worker(files, 1, 0))


def test_staging_is_bounded_and_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _write_shards(tmp_path, [5] * 20)
    real = storage.open_reader
    lock = threading.Lock()
    state = {"open": 0, "peak": 0, "opened": 0}

    @contextlib.contextmanager
    def counting(uri: str) -> Iterator[IO[bytes]]:
        with lock:
            state["open"] += 1
            state["opened"] += 1
            state["peak"] = max(state["peak"], state["open"])
        try:
            with real(uri) as f:
                yield f
        finally:
            with lock:
                state["open"] -= 1

    monkeypatch.setattr(record_stream.storage, "open_reader", counting)
    got = _all(ShardPlan.for_worker(files, 1, 0), shuffle=True, cycle=4, prefetch=2)
    assert len(got) == 100
    assert state["opened"] == 20
    assert state["peak"] <= 4 + 2
    assert state["open"] == 0

    # A consumer that stops early leaves nothing open either.
    stream = stream_records(
        ShardPlan.for_worker(files, 1, 0), shuffle=True, seed=0, repeat=True, cycle=4
    )
    next(stream)
    stream.close()
    assert state["open"] == 0
