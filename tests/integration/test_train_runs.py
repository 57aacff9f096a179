"""Real Ray Train runs of the real pianoroll_lstm family (toy size) on JSB Chorales piano rolls."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from musicgen.errors import JobFailed
from musicgen.train.config import DataConfig, OptimizerConfig, TrainConfig, model_config
from musicgen.train.driver import train
from tests.fixtures.tiny_family import DIVERGING_FAMILY, make_jsb_examples

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]


@pytest.fixture(scope="module")
def jsb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_jsb_examples(tmp_path_factory.mktemp("data") / "jsb")


def config(dataset: Path, runs: Path, **kw: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "model": model_config(family="pianoroll_lstm", layers=(16,)),
        "data": DataConfig(dataset=str(dataset), eval_split="valid", window=32),
        "optimizer": OptimizerConfig(learning_rate=3e-3),
        "runs_dir": str(runs),
        "run_id": "r1",
        "batch_size": 8,
        "num_steps": 20,
        "log_every": 5,
        "eval_every": 10,
        "eval_batches": 4,
        "checkpoint_every": 10,
        "keep_checkpoints": 2,
    }
    return TrainConfig(**{**base, **kw})


def rows(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def worker(run: Path, rank: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run / "workers" / f"rank-{rank}.json").read_text())
    return data


def optimizer_iterations(path: Path) -> int:
    import keras

    from musicgen.models.registry import get_family
    from musicgen.train.optimizer import AllReducedAdam  # the checkpoint's optimizer class

    objects = {"AllReducedAdam": AllReducedAdam, **get_family("pianoroll_lstm").custom_objects()}
    model = keras.saving.load_model(path, custom_objects=objects)
    return int(model.optimizer.iterations)


def test_one_worker_learns_writes_every_artifact_and_resumes(jsb: Path, tmp_path: Path) -> None:
    cfg = config(jsb, tmp_path)
    first = train(cfg)
    run = tmp_path / "pianoroll_lstm" / "r1"
    assert first.run_dir == str(run)
    assert first.steps == 20
    assert first.resumed_from == 0
    for name in ("config.resolved.yaml", "metrics.jsonl", "model.keras", "report.json"):
        assert (run / name).is_file(), name
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "ckpt-00000010.json", "ckpt-00000010.keras", "ckpt-00000020.json", "ckpt-00000020.keras",
    ]  # fmt: skip
    assert list((run / "tensorboard" / "train").glob("events.out.tfevents.*"))
    assert list((run / "tensorboard" / "eval").glob("events.out.tfevents.*"))
    train_rows = [r for r in rows(run) if r["split"] == "train"]
    assert [r["step"] for r in train_rows] == [5, 10, 15, 20]
    assert train_rows[-1]["loss"] < train_rows[0]["loss"]
    assert {"steps_per_s", "events_per_s", "nll_per_frame", "wall_s"} <= set(train_rows[-1])
    assert [r["step"] for r in rows(run) if r["split"] == "valid"] == [10, 20]
    assert first.eval["nll_per_frame"] > 0
    assert optimizer_iterations(run / "checkpoints" / "ckpt-00000020.keras") == 20

    resumed = train(config(jsb, tmp_path, num_steps=40))  # same run id: continues
    assert (resumed.resumed_from, resumed.steps) == (20, 40)
    assert worker(run, 0)["start_step"] == 20
    assert [r["step"] for r in rows(run) if r["split"] == "train"] == [
        5,
        10,
        15,
        20,
        25,
        30,
        35,
        40,
    ]
    assert optimizer_iterations(run / "checkpoints" / "ckpt-00000040.keras") == 40
    assert sorted(p.name for p in (run / "checkpoints").glob("*.keras")) == [
        "ckpt-00000030.keras", "ckpt-00000040.keras",
    ]  # fmt: skip
    assert resumed.train["loss"] < first.train["loss"]

    # Finished: re-running it returns at once, without starting Ray Train or touching a file.
    before = {p: p.stat().st_mtime_ns for p in (run / "checkpoints").iterdir()}
    began = time.monotonic()
    again = train(config(jsb, tmp_path, num_steps=40))
    assert time.monotonic() - began < 5
    assert (again.resumed_from, again.steps) == (40, 40)
    assert {p: p.stat().st_mtime_ns for p in (run / "checkpoints").iterdir()} == before
    assert worker(run, 0)["start_step"] == 20  # no worker ran again


def test_two_workers_end_with_identical_weights(jsb: Path, tmp_path: Path) -> None:
    report = train(config(jsb, tmp_path, num_workers=2, num_steps=10, eval_every=0))
    run = Path(report.run_dir)
    ranks = [worker(run, r) for r in (0, 1)]
    assert [r["final_step"] for r in ranks] == [10, 10]
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]
    assert ranks[0]["pid"] != ranks[1]["pid"]
    assert (run / "model.keras").is_file()
    # One copy of each checkpoint: ours; Ray Train keeps none of its own under ray/.
    assert len(list((run / "checkpoints").glob("*.keras"))) == 1
    assert not [p for p in (run / "ray").rglob("*") if "checkpoint" in p.name]


def test_killed_worker_resumes_from_the_last_checkpoint(jsb: Path, tmp_path: Path) -> None:
    cfg = config(jsb, tmp_path, num_workers=2, num_steps=120, log_every=10, eval_every=0,
                 checkpoint_every=20, max_failures=1)  # fmt: skip
    run = tmp_path / "pianoroll_lstm" / "r1"
    killed: dict[str, int] = {}

    def kill_rank_1_after_first_checkpoint() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ckpts = sorted((run / "checkpoints").glob("ckpt-*.json"))
            if ckpts and (run / "workers" / "rank-1.json").exists():
                killed["pid"] = worker(run, 1)["pid"]
                killed["checkpoint"] = int(ckpts[-1].stem.split("-")[1])
                os.kill(killed["pid"], signal.SIGKILL)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_rank_1_after_first_checkpoint, daemon=True)
    killer.start()
    report = train(cfg)
    killer.join()
    assert killed, "no checkpoint appeared to kill after"
    assert report.steps == 120
    restarted = worker(run, 1)
    assert restarted["pid"] != killed["pid"]
    assert restarted["final_step"] == 120
    # The new group started from the newest checkpoint at the kill, or a later one (written
    # by rank 0 before it noticed): at most one checkpoint interval of steps is redone.
    assert restarted["start_step"] >= killed["checkpoint"] >= 20
    assert worker(run, 0)["weights_sha256"] == restarted["weights_sha256"]
    steps = [r["step"] for r in rows(run) if r["split"] == "train"]
    assert steps == list(range(10, 121, 10))  # no step logged twice: the log continues


def test_non_finite_loss_fails_the_run(jsb: Path, tmp_path: Path) -> None:
    with pytest.raises(JobFailed, match="diverged at step 1"):
        train(config(jsb, tmp_path), family=DIVERGING_FAMILY)
    run = tmp_path / "pianoroll_lstm" / "r1"
    assert rows(run)[-1]["event"] == "diverged"
    assert not list((run / "checkpoints").glob("*.keras"))
