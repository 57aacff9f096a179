"""The full-budget protocol (benchmarks/quality_full.py) on real JSB Chorales, tiny: segments of
training with the real trainer, the whole valid split after each, early stopping, and the
best-valid checkpoint (not the last) scored on the test split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.quality import _train_retrying, score_split
from benchmarks.quality_full import FullPlan, full_markdown, train_early_stopping
from tests.fixtures.tiny_family import make_jsb_examples

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("ray_local")]


def test_segments_stop_early_and_the_best_valid_checkpoint_is_scored(tmp_path: Path) -> None:
    dataset = make_jsb_examples(tmp_path / "jsb")
    # A learning rate this high makes the valid NLL bounce, so patience 1 stops it early.
    plan = FullPlan("pianoroll_lstm", {"layers": (8,)}, "tiny", segment=4, max_steps=40,
                    patience=1, batch_size=8, learning_rate=0.3)  # fmt: skip
    scored: list[tuple[str, str | None]] = []

    def score(run_dir: str, split: str, batch: int, model_file: str | None) -> Any:
        scored.append((split, model_file))
        return score_split(run_dir, split, batch, model_file)[0]

    row = train_early_stopping(plan, dataset, tmp_path / "runs", 0, 600.0, False,
                               _train_retrying, score)  # fmt: skip
    steps = [point["step"] for point in row["curve"]]
    assert steps == list(range(4, 4 * len(steps) + 1, 4))
    assert len(steps) < 10, "patience 1 should stop before max_steps"
    assert row["stopped"].startswith("early stopping")
    best = min(row["curve"], key=lambda p: p["valid_nll"])
    assert (row["best_step"], row["best_valid_nll"]) == (best["step"], round(best["valid_nll"], 4))
    assert [split for split, _ in scored] == ["valid"] * len(steps) + ["test"]
    assert scored[-1][1] is not None
    assert scored[-1][1].endswith(f"ckpt-{row['best_step']:08d}.keras")
    # The test scores are the best checkpoint's, which differ from the last step's model.
    last = score_split(row["run_dir"], "test", plan.eval_batch_size)[0]
    if row["best_step"] != steps[-1]:
        assert row["test"]["nll_per_frame"] != last["nll_per_frame"]
    table = "\n".join(full_markdown({"datasets": {"JSB_Chorales": [row]}}, {}))
    assert "| pianoroll_lstm |" in table
    assert "early stopping" in table
