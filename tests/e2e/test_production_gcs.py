"""The README's production section in miniature, every artifact on the GCS emulator.

Corpus -> NoteSequences -> examples -> a 2-worker training run (one worker SIGKILLed after the
first checkpoint, the group resuming from the gs:// checkpoint) -> a generated batch -> a
verified local pull. Each step is a real ``ray job submit`` to a real ``ray start --head``, or
the same step through ``musicgen ... --address <head>``. No local path is shared between steps:
each reads what the previous one wrote to the bucket. The GCS emulator is the only storage the
cluster can reach, so any byte read or written past ``musicgen.storage`` (TensorFlow's own GCS
client would try storage.googleapis.com) fails the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from musicgen import storage
from musicgen.storage import layout
from tests.conftest import SAMPLE_CORPUS
from tests.e2e.conftest import BIN, RayHead, submit_command

pytestmark = pytest.mark.e2e

FILES = 12  # of the sample corpus: enough for 2 workers, 3 shards and an eval split
DATE = "2026-12-01"
CLI_STEPS = {
    "jobs/convert_corpus.py": "convert",
    "jobs/make_examples.py": "examples",
    "jobs/train.py": "train",
    "jobs/generate_batch.py": "generate",
}


def step_command(head: RayHead, mode: str, script: str, *args: str) -> list[str]:
    """One step as a submitted job, or as the CLI joining the head with ``--address``."""
    if mode == "submit":
        return submit_command(head, script, *args)
    return [str(BIN / "musicgen"), CLI_STEPS[script], *args, "--address", head.gcs_address]


def run_step(head: RayHead, mode: str, script: str, *args: str) -> str:
    proc = subprocess.run(
        step_command(head, mode, script, *args),
        env=head.env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{script} failed:\n{output[-6000:]}"
    return output


def read_json(uri: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(storage.read_bytes(uri))
    return data


@pytest.mark.parametrize("mode", ["submit", "cli"])
def test_production_flow_on_gcs(
    ray_head: RayHead, gcs_bucket: str, tmp_path: Path, mode: str
) -> None:
    bucket = gcs_bucket
    corpus = storage.join(bucket, "corpora", "sample")
    for path in sorted(SAMPLE_CORPUS.rglob("*.mid"))[:FILES]:
        storage.upload_file(str(path), storage.join(corpus, path.name))
    sequences = storage.join(bucket, "sequences", "sample")
    examples = storage.join(bucket, "examples", "sample")
    runs = storage.join(bucket, "runs")

    out = run_step(ray_head, mode, "jobs/convert_corpus.py", corpus, sequences,
                   "--files-per-shard", "4")  # fmt: skip
    assert f"converted {FILES}/{FILES} files" in out
    assert read_json(storage.join(sequences, layout.STATS))["converted"] == FILES

    # The CLI flow skips augmentation, the one cost it would only repeat.
    augment = ["--set", "augment=false"] if mode == "cli" else []
    run_step(ray_head, mode, "jobs/make_examples.py", sequences, examples, "--encoding",
             "performance_with_dynamics", "--eval-ratio", "0.25", *augment)  # fmt: skip
    stats = read_json(storage.join(examples, layout.STATS))
    assert stats["inputs"] == stats["converted"] == FILES

    run = layout.RunDir.of(runs, "performance_rnn", "prod")
    steps = 40 if mode == "submit" else 20
    train_args = [
        "--config", "configs/performance_rnn_smoke.yaml", "--dataset", examples,
        "--runs-dir", runs, "--run-id", "prod", "--num-workers", "2",
        "--num-steps", str(steps), "--set", "checkpoint_every=10", "--set", "log_every=10",
        "--set", "max_failures=1", "--set", "eval_every=20",
    ]  # fmt: skip
    if mode == "submit":
        killed: dict[str, int] = {}

        def kill_rank_1_after_first_checkpoint() -> None:
            from musicgen.train import checkpoints as ckpts

            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                latest = ckpts.latest_checkpoint(run.checkpoints)
                if latest is not None and storage.exists(run.worker(1)):
                    killed["pid"] = int(read_json(run.worker(1))["pid"])  # type: ignore[call-overload]
                    killed["checkpoint"] = latest.step
                    os.kill(killed["pid"], signal.SIGKILL)
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_rank_1_after_first_checkpoint, daemon=True)
        killer.start()
        run_step(ray_head, mode, "jobs/train.py", *train_args)
        killer.join(timeout=5)
        assert killed, "no checkpoint appeared on the bucket to kill after"
        restarted = read_json(run.worker(1))
        assert restarted["pid"] != killed["pid"]
        # Resumed from the gs:// checkpoint at the kill, or a later one: at most one interval.
        assert int(restarted["start_step"]) >= killed["checkpoint"] >= 10  # type: ignore[call-overload]
    else:
        run_step(ray_head, mode, "jobs/train.py", *train_args)

    report = read_json(run.report)
    assert report["steps"] == steps
    ranks = [read_json(run.worker(r)) for r in (0, 1)]
    assert [r["final_step"] for r in ranks] == [steps, steps]
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]
    checkpoint_names = sorted(storage.basename(f.uri) for f in storage.list_files(run.checkpoints))
    assert checkpoint_names == [  # pruned on the bucket to keep_checkpoints = 2
        f"{layout.checkpoint_stem(s)}{x}" for s in (steps - 10, steps) for x in (".json", ".keras")
    ]
    logged = [json.loads(line) for line in storage.read_bytes(run.metrics).splitlines()]
    assert [r["step"] for r in logged if r["split"] == "train"] == list(range(10, steps + 1, 10))
    assert storage.exists(run.model)
    assert storage.exists(run.encoding)
    events = [f.uri for f in storage.list_files(run.tensorboard)]
    assert any("/train/" in e for e in events)
    assert any("/eval/" in e for e in events)

    batch_id = f"nightly-{mode}"
    run_step(ray_head, mode, "jobs/generate_batch.py", "--run", run.uri, "--output", bucket,
             "--batch-id", batch_id, "--date", DATE, "--num-samples", "3", "--num-steps", "300",
             "--render", "0")  # fmt: skip
    prefix = layout.batch_prefix(bucket, "performance_rnn-prod", DATE, batch_id)
    assert read_json(storage.join(prefix, layout.REPORT))["num_samples"] == 3

    dest = tmp_path / "pulled"
    proc = subprocess.run(
        [str(BIN / "musicgen"), "pull", bucket, "--latest", str(dest)],
        env=ray_head.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = [json.loads(x) for x in storage.read_bytes(storage.join(prefix, layout.MANIFEST))
                .splitlines()]  # fmt: skip
    assert len(manifest) == 3
    for row in manifest:
        data = (dest / row["uri"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        assert data[:4] == b"MThd"
