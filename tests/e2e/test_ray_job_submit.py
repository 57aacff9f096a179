"""A real `ray start --head` on loopback and the real `ray job submit` of the jobs/ entry points."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture(scope="module")
def ray_head() -> Iterator[tuple[str, dict[str, str]]]:
    """A head node with its own ports and temp dir; `ray stop` at the end, whatever happened."""
    temp = tempfile.mkdtemp(prefix="rh", dir="/tmp")  # short: Ray's Unix socket paths are limited
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",  # the job's `python` is the venv's
        "RAY_AUTH_MODE": "disabled",  # explicit for head and clients; see platform notes §3
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    gcs, dash, client, agent, agent_grpc, rt_env, metrics, om, nm = free_ports(9)
    start = [
        str(BIN / "ray"), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs}",
        "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", "--include-dashboard=true",
        f"--ray-client-server-port={client}", f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={agent_grpc}", f"--runtime-env-agent-port={rt_env}",
        f"--metrics-export-port={metrics}", f"--object-manager-port={om}",
        f"--node-manager-port={nm}", "--num-cpus=2", "--disable-usage-stats",
        f"--temp-dir={temp}",
    ]  # fmt: skip
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=120)
    try:
        yield f"http://127.0.0.1:{dash}", env
    finally:
        subprocess.run(
            [str(BIN / "ray"), "stop", "--force"], env=env, capture_output=True, timeout=120
        )
        shutil.rmtree(temp, ignore_errors=True)


def submit(
    address: str, env: dict[str, str], *job_args: str, script: str = "jobs/convert_corpus.py"
) -> subprocess.CompletedProcess[str]:
    name = Path(script).stem.replace("_", "-")
    cmd = [
        str(BIN / "ray"), "job", "submit", "--address", address,
        "--submission-id", f"{name}-{uuid.uuid4().hex[:8]}", "--working-dir", str(REPO),
        "--", "python", script, *job_args,
    ]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def test_submitted_conversion_job_writes_complete_output(
    ray_head: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    address, env = ray_head
    out = tmp_path / "sequences"
    # The input is relative: it resolves inside the uploaded working dir, as on a cluster.
    proc = submit(address, env, "data/sample-corpus", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "succeeded" in proc.stdout.lower()
    assert "converted 24/24 files" in proc.stdout
    stats = json.loads((out / "stats.json").read_text())
    assert stats["inputs"] == stats["converted"] == 24
    assert stats["collection"] == "sample-corpus"
    shards = sorted(p.name for p in out.glob("notesequences-*.tfrecord"))
    assert shards == [f"notesequences-{i:05d}-of-00003.tfrecord" for i in range(3)]  # 8 per shard


def test_submitted_job_with_bad_input_fails_with_its_reason(
    ray_head: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    address, env = ray_head
    proc = submit(address, env, "no/such/corpus", str(tmp_path / "out"))
    assert proc.returncode != 0
    assert "input corpus not found" in proc.stdout + proc.stderr


def test_submitted_examples_job_writes_both_splits(
    ray_head: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    address, env = ray_head
    sequences, examples = tmp_path / "sequences", tmp_path / "examples"
    assert submit(address, env, "data/sample-corpus", str(sequences)).returncode == 0
    proc = submit(
        address, env, str(sequences), str(examples), "--encoding", "performance_with_dynamics",
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


def test_submitted_train_job_writes_a_complete_run_dir(
    ray_head: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    from tests.fixtures.tiny_family import make_jsb_examples

    address, env = ray_head
    dataset, runs = make_jsb_examples(tmp_path / "jsb"), tmp_path / "runs"
    proc = submit(
        address, env, "--dataset", str(dataset), "--runs-dir", str(runs), "--run-id", "e2e",
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
