"""One Ray Train worker and two, fed the same global batches, end with the same model.

Rank agreement alone (every 2-worker test checks it) would hold with a wrong gradient factor too:
both ranks would take the same wrong step. So here the same ordered global batches go to a
1-worker and a 2-worker run of the real trainer on a real local Ray (each rank keeps its half of
every global batch), and after 5 steps the runs' checkpoints must agree, to float tolerance, in
the weights *and* in Adam's moments. The moments matter: Adam's step ``m / sqrt(v)`` hardly
changes when every gradient is scaled by a constant, so a wrong ``1/N`` would barely move the
weights, but it scales ``m`` by that constant and ``v`` by its square.

Clipping binds in both runs (per tensor for one family: the logits' kernel, norm 0.16 > 0.05 at
the first step; global for the other: norm 5.4 > 0.5), so the step is also checked to clip the
summed gradient, not each worker's part.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from musicgen.config import ExamplesConfig
from musicgen.examples.pipeline import make_examples
from musicgen.models.performance_rnn import PerformanceRNNFamily
from musicgen.models.pianoroll_lstm import PianorollLSTMFamily
from musicgen.train.config import DataConfig, OptimizerConfig, TrainConfig, model_config
from musicgen.train.driver import train
from tests.fixtures.tiny_family import make_jsb_examples

if TYPE_CHECKING:
    import tensorflow as tf

    from musicgen.examples.encoding_info import EncodingInfo

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]

STEPS = 5
GLOBAL_BATCH = 8


class GlobalBatches:
    """A family's training batches, made the same for any worker count: every rank reads the
    whole ordered split (no shuffle), cuts it into global batches and keeps its slice."""

    def dataset(
        self,
        files: Sequence[str],
        info: EncodingInfo,
        data: DataConfig,
        *,
        batch_size: int,
        training: bool,
        seed: int,
        num_shards: int,
        shard_index: int,
    ) -> tf.data.Dataset:
        import tensorflow as tf

        parent: Any = super()
        if not training:
            return parent.dataset(
                files, info, data, batch_size=batch_size, training=False, seed=seed,
                num_shards=num_shards, shard_index=shard_index,
            )  # fmt: skip
        size = batch_size * num_shards
        whole = parent.dataset(files, info, data, batch_size=size, training=False, seed=seed,
                               num_shards=1, shard_index=0)  # fmt: skip
        lo, hi = shard_index * batch_size, (shard_index + 1) * batch_size
        full = whole.filter(lambda b: tf.shape(b["mask"])[0] == size).repeat()
        return full.map(lambda b: {k: v[lo:hi] for k, v in b.items()})


class OrderedPerformanceRNN(GlobalBatches, PerformanceRNNFamily):
    """``performance_rnn`` with :class:`GlobalBatches`."""


class OrderedPianorollLSTM(GlobalBatches, PianorollLSTMFamily):
    """``pianoroll_lstm`` with :class:`GlobalBatches`."""


HERE = "tests.integration.test_train_worker_equivalence"


@pytest.fixture(scope="module")
def datasets(golden_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    make_examples(ExamplesConfig(input=str(golden_dir / "notesequences.tfrecord"),
                                 output=str(root / "perf"), eval_ratio=0.0))  # fmt: skip
    return {"performance_rnn": root / "perf", "pianoroll_lstm": make_jsb_examples(root / "jsb")}


CASES = {
    "performance_rnn": (
        f"{HERE}:OrderedPerformanceRNN",
        model_config(family="performance_rnn", layers=(16, 16)),
        DataConfig(dataset="", eval_split="none"),
        OptimizerConfig(learning_rate=1e-2, clip_norm=0.05),
    ),
    "pianoroll_lstm": (
        f"{HERE}:OrderedPianorollLSTM",
        model_config(family="pianoroll_lstm", layers=(16,)),
        DataConfig(dataset="", eval_split="none", window=16),
        OptimizerConfig(learning_rate=1e-2, clip_norm=None, global_clip_norm=0.5),
    ),
}


def run(family: str, dataset: Path, runs: Path, workers: int) -> Path:
    path, model, data, optimizer = CASES[family]
    cfg = TrainConfig(
        model=model, data=dataclasses.replace(data, dataset=str(dataset)),
        optimizer=optimizer, runs_dir=str(runs), run_id=f"w{workers}",
        batch_size=GLOBAL_BATCH, num_steps=STEPS, log_every=1, checkpoint_every=STEPS,
        num_workers=workers,
    )  # fmt: skip
    return Path(train(cfg, family=path).run_dir)


def checkpoint(run: Path, family: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The weights and the optimizer's variables of the run's last checkpoint."""
    import keras

    from musicgen.models.registry import get_family
    from musicgen.train.optimizer import AllReducedAdam

    model = keras.saving.load_model(
        run / "checkpoints" / f"ckpt-{STEPS:08d}.keras",
        custom_objects={**get_family(family).custom_objects(), "AllReducedAdam": AllReducedAdam},
    )
    return [w.numpy() for w in model.weights], [v.numpy() for v in model.optimizer.variables]


def train_losses(run: Path) -> list[float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["split"] == "train"]


def worst_relative_error(actual: list[np.ndarray], expected: list[np.ndarray]) -> float:
    """The largest ``|a - e| / |e|`` (Frobenius norms) over the tensors: summing a batch as two
    halves rounds differently, and float32 rounding is relative to a tensor's scale, not to
    each (possibly tiny) element."""
    assert len(actual) == len(expected)
    errors = [
        float(np.linalg.norm(a - e) / max(float(np.linalg.norm(e)), 1e-30))
        for a, e in zip(actual, expected, strict=True)
    ]
    return max(errors)


@pytest.mark.parametrize("family", sorted(CASES))
def test_one_and_two_workers_take_the_same_steps(
    family: str, datasets: dict[str, Path], tmp_path: Path
) -> None:
    one = run(family, datasets[family], tmp_path / "one", workers=1)
    two = run(family, datasets[family], tmp_path / "two", workers=2)
    assert len(train_losses(one)) == STEPS
    weights_1, optimizer_1 = checkpoint(one, family)
    weights_2, optimizer_2 = checkpoint(two, family)
    assert int(optimizer_1[0]) == int(optimizer_2[0]) == STEPS  # Adam's iteration count
    moments_error = worst_relative_error(optimizer_2[2:], optimizer_1[2:])  # Adam's m and v
    weights_error = worst_relative_error(weights_2, weights_1)
    print(
        f"{family}: worst relative error, moments {moments_error:.2e}, weights {weights_error:.2e}"
    )
    assert min(float(np.linalg.norm(m)) for m in optimizer_1[2:]) > 0  # nothing compared is void
    # Measured on CPU: below 7e-6 (moments) and 2e-6 (weights), float32 rounding of two half
    # batches summed, through 5 Adam steps. A wrong 1/N on 2 workers puts the moments' error
    # near |N - 1| (m) or |N^2 - 1| (v) whatever the weights do: with the factor left out of
    # the step, pianoroll_lstm measured 3.0 here, its weights 3e-3 and its losses only 3e-5.
    assert moments_error < 1e-3
    assert weights_error < 1e-4
    # The same global batches: the same loss at every step (it is a global sum / global weight).
    np.testing.assert_allclose(train_losses(two), train_losses(one), rtol=1e-5)
