"""A real `ray start --head` on loopback and the real `ray job submit` of the jobs/ entry points."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import RayHead, submit

pytestmark = pytest.mark.e2e


def test_submitted_conversion_job_writes_complete_output(ray_head: RayHead, tmp_path: Path) -> None:
    out = tmp_path / "sequences"
    # The input is relative: it resolves inside the uploaded working dir, as on a cluster.
    proc = submit(ray_head, "data/sample-corpus", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "succeeded" in proc.stdout.lower()
    assert "converted 24/24 files" in proc.stdout
    stats = json.loads((out / "stats.json").read_text())
    assert stats["inputs"] == stats["converted"] == 24
    assert stats["collection"] == "sample-corpus"
    shards = sorted(p.name for p in out.glob("notesequences-*.tfrecord"))
    assert shards == [f"notesequences-{i:05d}-of-00003.tfrecord" for i in range(3)]  # 8 per shard


def test_submitted_job_with_bad_input_fails_with_its_reason(
    ray_head: RayHead, tmp_path: Path
) -> None:
    proc = submit(ray_head, "no/such/corpus", str(tmp_path / "out"))
    assert proc.returncode != 0
    assert "input corpus not found" in proc.stdout + proc.stderr


def test_submitted_examples_job_writes_both_splits(ray_head: RayHead, tmp_path: Path) -> None:
    sequences, examples = tmp_path / "sequences", tmp_path / "examples"
    assert submit(ray_head, "data/sample-corpus", str(sequences)).returncode == 0
    proc = submit(
        ray_head, str(sequences), str(examples), "--encoding", "performance_with_dynamics",
        "--eval-ratio", "0.25", script="jobs/make_examples.py",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "24/24 sequences gave examples" in proc.stdout
    stats = json.loads((examples / "stats.json").read_text())
    assert stats["inputs"] == stats["converted"] == 24
    assert stats["examples"]["train"] > 20 * stats["examples"]["eval"] > 0  # 35x augmentation
    for split in ("train", "eval"):
        assert len(list((examples / split).glob("examples-*-of-00003.tfrecord"))) == 3
    info = json.loads((examples / "encoding.json").read_text())
    assert (info["name"], info["format"]) == ("performance_with_dynamics", "compact")


def test_submitted_train_job_writes_a_complete_run_dir(ray_head: RayHead, tmp_path: Path) -> None:
    from tests.fixtures.tiny_family import make_jsb_examples

    dataset, runs = make_jsb_examples(tmp_path / "jsb"), tmp_path / "runs"
    proc = submit(
        ray_head, "--dataset", str(dataset), "--runs-dir", str(runs), "--run-id", "e2e",
        "--num-workers", "2", "--num-steps", "10", "--set", "model.family=pianoroll_lstm",
        "--set", "model.layers=[8]", "--set", "batch_size=8", "--set", "data.window=16",
        "--set", "data.eval_split=valid", "--set", "eval_batches=2", "--set",
        "checkpoint_every=5", script="jobs/train.py",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "trained e2e to step 10" in proc.stdout
    run = runs / "pianoroll_lstm" / "e2e"
    for name in ("config.resolved.yaml", "metrics.jsonl", "model.keras", "report.json"):
        assert (run / name).is_file(), name
    assert sorted(p.name for p in (run / "checkpoints").glob("*.keras")) == [
        "ckpt-00000005.keras", "ckpt-00000010.keras",
    ]  # fmt: skip
    report = json.loads((run / "report.json").read_text())
    assert report["steps"] == 10
    assert report["eval"]["split"] == "valid"
    workers = [json.loads((run / "workers" / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert workers[0]["weights_sha256"] == workers[1]["weights_sha256"]
