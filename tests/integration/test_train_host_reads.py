"""The training loop reads step results back to the host only at log, evaluation and checkpoint
steps, so a GPU runs ahead of Python in between.

The real worker loop runs in this process (one rank, no Ray: only ``ray.train.report`` is
replaced), with every host read of a tensor counted: TensorFlow's eager tensors copy to the host
in one place, ``_EagerTensorBase._numpy``, behind ``float()``, ``.numpy()``, ``int()``, ``bool()``
and numpy conversion alike.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from musicgen.train.config import DataConfig, TrainConfig, model_config
from musicgen.train.run_dir import plain
from tests.fixtures.tiny_family import DIVERGING_FAMILY, make_jsb_examples

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def jsb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_jsb_examples(tmp_path_factory.mktemp("data") / "jsb")


@pytest.fixture
def in_process_worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Runs ``loop.Worker`` here as rank 0 of 1, leaving this process's logging and Keras
    policy as they were."""
    import keras
    import ray.train

    from musicgen.train import loop

    monkeypatch.setattr(ray.train, "report", lambda *_a, **_k: None)
    monkeypatch.setattr(loop.logs, "configure", lambda *_a, **_k: None)
    monkeypatch.setattr(logging.getLogger("musicgen"), "propagate", True)

    def run(cfg: TrainConfig, family: str) -> None:
        loop.Worker({"cfg": plain(cfg), "family": family}, 0, 1).run()

    yield run
    keras.mixed_precision.set_global_policy("float32")


class HostReads:
    """Host reads made by this thread outside the train step, by the step they followed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from tensorflow.python.framework import ops

        from musicgen.train import step as step_module

        self.after: list[int] = []  # one entry per read: train steps completed before it
        self.steps = 0
        self._inside = False
        thread = threading.get_ident()
        real_numpy = ops._EagerTensorBase._numpy
        real_make = step_module.make_train_step

        def counting_numpy(tensor: Any) -> Any:
            # tf.data's threads and the step's own tracing are not the loop's reads.
            if threading.get_ident() == thread and not self._inside:
                self.after.append(self.steps)
            return real_numpy(tensor)

        def make_train_step(*args: Any, **kwargs: Any) -> Callable[[Any], Any]:
            train_step = real_make(*args, **kwargs)

            def counted(batch: Any) -> Any:
                self._inside = True
                try:
                    return train_step(batch)
                finally:
                    self._inside = False
                    self.steps += 1

            return counted

        monkeypatch.setattr(ops._EagerTensorBase, "_numpy", counting_numpy)
        monkeypatch.setattr(step_module, "make_train_step", make_train_step)


def config(dataset: Path, runs: Path, **kw: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "model": model_config(family="pianoroll_lstm", layers=(8,)),
        "data": DataConfig(dataset=str(dataset), eval_split="valid", window=16),
        "runs_dir": str(runs),
        "run_id": "sync",
        "batch_size": 4,
        "num_steps": 12,
        "log_every": 4,
        "eval_every": 6,
        "eval_batches": 1,
        "checkpoint_every": 12,
    }
    return TrainConfig(**{**base, **kw})


def test_host_reads_only_at_log_eval_and_checkpoint_steps(
    jsb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_process_worker: Any
) -> None:
    reads = HostReads(monkeypatch)
    in_process_worker(config(jsb, tmp_path), "pianoroll_lstm")
    assert reads.steps == 12
    # Step 0: restoring and the start record; 4, 8, 12: logs; 6, 12: evaluations; 12: the
    # checkpoint, the final record and model.keras. Never after the other steps.
    assert set(reads.after) == {0, 4, 6, 8, 12}
    run = tmp_path / "pianoroll_lstm" / "sync"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["split"] == "train"]
    assert [r["step"] for r in train_rows] == [4, 8, 12]
    # Each progress line still sums its own steps: 4 steps of 4 windows of 15 predicted frames.
    assert all(r["events_per_s"] > 0 and r["loss"] > 0 for r in train_rows)
    assert [r["step"] for r in rows if r["split"] == "valid"] == [6, 12]


def test_a_non_finite_loss_is_found_at_the_next_read_and_named_by_its_step(
    jsb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_process_worker: Any
) -> None:
    reads = HostReads(monkeypatch)
    in_process_worker(config(jsb, tmp_path, eval_every=0), DIVERGING_FAMILY)
    assert reads.steps == 4  # stopped at the first read, the log at step 4
    run = tmp_path / "pianoroll_lstm" / "sync"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["event"] == "diverged"
    assert rows[-1]["step"] == 1  # the first non-finite step, though read at step 4
    assert rows[-1]["loss"] is None  # NaN, written as JSON null
    assert not (run / "checkpoints").exists() or not list((run / "checkpoints").iterdir())
    assert not (run / "model.keras").exists()
    worker = json.loads((run / "workers" / "rank-0.json").read_text())
    assert (worker["final_step"], worker["diverged"]) == (4, True)
