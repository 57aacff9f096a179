"""The PerformanceRNN and biaxial families through the real trainer on 2 Ray workers: loss falls
and every rank ends with the same weights (the piano-roll LSTM is covered in test_train_runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from musicgen.config import ExamplesConfig
from musicgen.examples.pipeline import make_examples
from musicgen.train.config import DataConfig, TrainConfig, model_config
from musicgen.train.driver import train
from tests.fixtures.tiny_family import make_jsb_examples

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]


def ranks(run: Path) -> list[dict[str, Any]]:
    return [json.loads((run / "workers" / f"rank-{r}.json").read_text()) for r in (0, 1)]


def losses(run: Path) -> list[float]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["split"] == "train"]


@pytest.mark.parametrize("input_mode", ["one_hot", "embedding"])
def test_performance_rnn_on_two_workers(input_mode: str, golden_dir: Path, tmp_path: Path) -> None:
    examples = tmp_path / "ex"
    make_examples(ExamplesConfig(input=str(golden_dir / "notesequences.tfrecord"),
                                 output=str(examples), eval_ratio=0.0))  # fmt: skip
    cfg = TrainConfig(
        model=model_config(family="performance_rnn", layers=(32, 32), input_mode=input_mode,
                          embedding_dim=16),
        data=DataConfig(dataset=str(examples)),
        runs_dir=str(tmp_path / "runs"), run_id="p2", batch_size=16, num_steps=24, log_every=4,
        checkpoint_every=24, num_workers=2,
    )  # fmt: skip
    report = train(cfg)
    run = Path(report.run_dir)
    a, b = ranks(run)
    assert a["final_step"] == b["final_step"] == 24
    assert a["weights_sha256"] == b["weights_sha256"]
    trace = losses(run)
    assert trace[-1] < trace[0]


def test_biaxial_lstm_on_two_workers(tmp_path: Path) -> None:
    data = make_jsb_examples(tmp_path / "jsb")
    cfg = TrainConfig(
        model=model_config(family="biaxial_lstm", time_layers=(16,), note_layers=(8,)),
        data=DataConfig(dataset=str(data), eval_split="valid", window=16),
        runs_dir=str(tmp_path / "runs"), run_id="b2", batch_size=4, num_steps=12, log_every=4,
        checkpoint_every=12, eval_batches=2, num_workers=2,
    )  # fmt: skip
    report = train(cfg)
    run = Path(report.run_dir)
    a, b = ranks(run)
    assert a["weights_sha256"] == b["weights_sha256"]
    trace = losses(run)
    assert trace[-1] < trace[0]
    assert "nll_per_frame" in report.eval


def test_relative_paths_from_the_callers_directory(
    golden_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers run elsewhere: relative local paths are resolved by the drivers, as the demo uses."""
    from musicgen.generate.batch import generate_batch
    from musicgen.generate.config import GenerateConfig

    monkeypatch.chdir(tmp_path)
    make_examples(ExamplesConfig(input=str(golden_dir / "notesequences.tfrecord"), output="ex",
                                 eval_ratio=0.5))  # fmt: skip
    cfg = TrainConfig(
        model=model_config(family="performance_rnn", layers=(16,), input_mode="embedding",
                          embedding_dim=8),
        data=DataConfig(dataset="ex"), runs_dir="runs", run_id="rel", batch_size=4,
        num_steps=4, log_every=2, checkpoint_every=4, eval_batches=1,
    )  # fmt: skip
    report = train(cfg)
    assert report.run_dir == str(tmp_path / "runs" / "performance_rnn" / "rel")
    batch = generate_batch(GenerateConfig(run="runs/performance_rnn/rel", output="out",
                                          num_samples=2, num_steps=200, render=0))  # fmt: skip
    assert batch.prefix.startswith(str(tmp_path / "out" / "generated"))
    assert len(batch.rows) == 2


def test_errors_cross_process_boundaries() -> None:
    import pickle

    from musicgen.errors import InputError, ObjectNotFound, StorageError
    from musicgen.storage.tfrecord import CorruptRecordError

    errors = [StorageError("gs://b/k", "boom"), ObjectNotFound("x", "gone"),
              InputError("u", "malformed", "m"), CorruptRecordError("f", 12, "bad")]  # fmt: skip
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
        assert type(copy) is type(error)
        assert str(copy) == str(error)
