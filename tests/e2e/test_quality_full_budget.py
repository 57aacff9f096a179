"""The full-budget protocol (benchmarks/quality_full.py) on real JSB Chorales, tiny: one run of
the real trainer with early stopping on the whole valid split, and its best-valid model (not
the last) scored on the test split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.quality import _train_retrying, score_split
from benchmarks.quality_full import FullPlan, full_markdown, train_early_stopping
from tests.fixtures.tiny_family import make_jsb_examples

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("ray_local")]


def test_early_stopping_scores_the_best_valid_model_on_test(tmp_path: Path) -> None:
    dataset = make_jsb_examples(tmp_path / "jsb")
    # A learning rate this high makes the valid NLL bounce, so patience 1 stops it early.
    plan = FullPlan("pianoroll_lstm", {"layers": (8,)}, "tiny", eval_every=4, max_steps=40,
                    patience=1, batch_size=8, learning_rate=0.3)  # fmt: skip
    scored: list[str] = []

    def score(run_dir: str, split: str, batch: int) -> Any:
        scored.append(split)
        return score_split(run_dir, split, batch)[0]

    row = train_early_stopping(plan, dataset, tmp_path / "runs", 0, 600.0, False,
                               _train_retrying, score)  # fmt: skip
    steps = [point["step"] for point in row["curve"]]
    assert steps == list(range(4, 4 * len(steps) + 1, 4))
    assert len(steps) < 10, "patience 1 should stop before max_steps"
    assert row["stopped"].startswith("early stopping")
    assert row["steps"] == steps[-1]
    best = min(row["curve"], key=lambda p: p["valid_nll"])
    assert (row["best_step"], row["best_valid_nll"]) == (best["step"], round(best["valid_nll"], 4))
    assert scored == ["test"]

    # The test scores are the best-valid model's, not the last step's.
    def test_nll_at(step: int) -> float:
        checkpoint = Path(row["run_dir"]) / "checkpoints" / f"ckpt-{step:08d}.keras"
        scores = score_split(row["run_dir"], "test", plan.eval_batch_size, str(checkpoint))[0]
        return float(scores["nll_per_frame"])

    assert row["test"]["nll_per_frame"] == pytest.approx(test_nll_at(row["best_step"]))
    if row["best_step"] != steps[-1]:
        assert row["test"]["nll_per_frame"] != test_nll_at(steps[-1])
    table = "\n".join(full_markdown({"datasets": {"JSB_Chorales": [row]}}, {}))
    assert "| pianoroll_lstm |" in table
    assert "early stopping" in table
