"""Shard planning is deterministic; every file is counted exactly once, also when a shard dies."""

from __future__ import annotations

from pathlib import Path

import pytest

from musicgen.config import ConvertConfig
from musicgen.corpus.convert import CONVERTED, FAILED, SKIPPED, FileOutcome
from musicgen.corpus.pipeline import plan_shards
from musicgen.corpus.shard import ShardTask, convert_shard, failed_shard
from musicgen.corpus.sources import Discovery, SourceFile, discover
from musicgen.corpus.stats import ConversionStats
from musicgen.storage import tfrecord

SAMPLE = Path(__file__).parents[3] / "data" / "sample-corpus"


def files(n: int) -> list[SourceFile]:
    return [SourceFile(f"/c/{i:03d}.mid", f"{i:03d}.mid", 10, "midi") for i in range(n)]


def test_plan_is_deterministic_and_covers_every_file_once() -> None:
    cfg = ConvertConfig(input="/c", output="/o", files_per_shard=7)
    plan = plan_shards(Discovery(files(30)), cfg, "c")
    again = plan_shards(Discovery(files(30)), cfg, "c")
    assert plan == again
    assert [len(t.files) for t in plan] == [7, 7, 7, 7, 2]
    assert [f for t in plan for f in t.files] == files(30)
    assert plan[-1].uri == "/o/notesequences-00004-of-00005.tfrecord"


def test_stats_add_up_and_merge() -> None:
    src = files(4)
    a, b = ConversionStats(), ConversionStats()
    a.add(FileOutcome(src[0], CONVERTED, sequences=[b"x"], notes=5))
    a.add(FileOutcome(src[1], FAILED, "truncated", "EOFError"))
    b.add(FileOutcome(src[2], SKIPPED, "too_large", "big"))
    b.add(FileOutcome(src[3], CONVERTED, sequences=[b"y", b"z"], notes=1, fallback=True))
    a.merge(b)
    assert a.consistent
    d = a.to_dict()
    assert (d["inputs"], d["converted"], d["failed"], d["skipped"]) == (4, 2, 1, 1)
    assert d["sequences_written"] == 3
    assert d["notes"] == 6
    assert d["parser_fallbacks"] == 1
    assert d["reasons"] == {"failed": {"truncated": 1}, "skipped": {"too_large": 1}}
    with pytest.raises(ValueError, match="unknown outcome"):
        a.add(FileOutcome(src[0], "exploded"))


def test_a_dead_shard_accounts_for_all_its_files() -> None:
    task = ShardTask(0, 1, tuple(files(3)), "/o", "c", "fast", 100)
    result = failed_shard(task, "WorkerCrashedError: boom")
    assert result.stats.failed == result.stats.inputs == 3
    assert {r["reason"] for r in result.failures} == {"shard_task_failed"}


def test_convert_shard_streams_records_in_file_order(tmp_path: Path) -> None:
    """Runs a shard in-process (no Ray): what a worker does."""
    found = discover(str(SAMPLE))
    task = ShardTask(0, 1, tuple(found.files[:3]), str(tmp_path), "s", "note_seq", 1 << 20)
    result = convert_shard(task)
    assert result.stats.converted == 3
    records = list(tfrecord.read_tfrecord_file(task.uri))
    from note_seq.protobuf import music_pb2

    names = [music_pb2.NoteSequence.FromString(r).filename for r in records]
    assert names == [f.relpath for f in found.files[:3]]


def test_unreadable_file_is_a_recorded_failure(tmp_path: Path) -> None:
    ghost = SourceFile(str(tmp_path / "gone.mid"), "gone.mid", 10, "midi")
    result = convert_shard(ShardTask(0, 1, (ghost,), str(tmp_path), "s", "fast", 1 << 20))
    assert result.stats.failed == 1
    assert result.failures[0]["reason"] == "read_error"
    assert result.failures[0]["uri"].endswith("gone.mid")
    assert "no such file" in result.failures[0]["message"]
