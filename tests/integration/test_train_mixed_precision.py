"""``mixed_precision: true`` through `musicgen train` on CPU: float16 compute with dynamic loss
scaling trains 20 steps (finite, falling loss), and its checkpoint resumes with the weights, Adam's
state and the loss scaler's state restored."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from musicgen.cli import main
from tests.fixtures.tiny_family import make_jsb_examples

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]


@pytest.fixture(scope="module")
def jsb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_jsb_examples(tmp_path_factory.mktemp("data") / "jsb")


def checkpoint(run: Path, step: int) -> Any:
    import keras

    from musicgen.models.registry import get_family

    return keras.saving.load_model(
        run / "checkpoints" / f"ckpt-{step:08d}.keras",
        custom_objects=get_family("pianoroll_lstm").custom_objects(),
    )


def test_mixed_float16_trains_and_resumes_with_its_loss_scale(jsb: Path, tmp_path: Path) -> None:
    import keras

    from musicgen.train.loop import weights_checksum

    args = ["train", "--dataset", str(jsb), "--runs-dir", str(tmp_path), "--run-id", "mp"]
    for setting in ("model.family=pianoroll_lstm", "model.layers=[16]", "data.window=32",
                    "data.eval_split=valid", "eval_batches=2", "optimizer.learning_rate=0.003",
                    "batch_size=8", "log_every=5", "checkpoint_every=10",
                    "mixed_precision=true"):  # fmt: skip
        args += ["--set", setting]
    assert main([*args, "--num-steps", "20"]) == 0
    run = tmp_path / "pianoroll_lstm" / "mp"
    first = json.loads((run / "workers" / "rank-0.json").read_text())
    assert first["policy"] == "mixed_float16"
    assert first["start_loss_scale"] == 2.0**15  # a LossScaleOptimizer, as Keras builds it
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r["split"] == "train"]
    assert len(losses) == 4
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0]
    assert all(r["loss_scale"] > 0 for r in rows if r["split"] == "train")

    saved = checkpoint(run, 20)
    assert isinstance(saved.optimizer, keras.optimizers.LossScaleOptimizer)
    scale, counter = float(saved.optimizer.dynamic_scale), int(saved.optimizer.step_counter)
    applied = int(saved.optimizer.iterations)  # steps whose float16 gradients were finite
    assert applied == counter == 20  # no overflow at this scale, so no step was skipped

    assert main([*args, "--num-steps", "30"]) == 0  # the same run id: resumes
    resumed = json.loads((run / "workers" / "rank-0.json").read_text())
    assert resumed["start_step"] == 20
    assert resumed["start_weights_sha256"] == weights_checksum(saved)
    assert (resumed["start_loss_scale"], resumed["start_optimizer_iterations"]) == (scale, applied)
    after = checkpoint(run, 30)
    # The scaler's own counter continued from 20: it was restored, not rebuilt at 0.
    assert int(after.optimizer.step_counter) == counter + 10
    assert int(after.optimizer.iterations) == applied + 10
    assert float(after.optimizer.dynamic_scale) == scale
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r["split"] == "train"]
    assert [r["step"] for r in rows if r["split"] == "train"] == [5, 10, 15, 20, 25, 30]
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[3]  # training continued from where it was
    assert all(np.isfinite(w.numpy()).all() for w in after.weights)
