"""Early stopping and the time limit in real Ray Train runs (pianoroll_lstm, toy size, JSB)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from musicgen.errors import ConfigError
from musicgen.train.config import EarlyStoppingConfig, OptimizerConfig
from musicgen.train.driver import train
from tests.fixtures.tiny_family import make_jsb_examples
from tests.integration.test_train_runs import config, rows, worker

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]


@pytest.fixture(scope="module")
def jsb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_jsb_examples(tmp_path_factory.mktemp("data") / "jsb")


def weights(path: Path) -> list[np.ndarray]:
    import keras

    from musicgen.models.registry import get_family

    model = keras.saving.load_model(
        path, custom_objects=get_family("pianoroll_lstm").custom_objects(), compile=False
    )
    return [w.numpy() for w in model.weights]


def same_weights(a: Path, b: Path) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(weights(a), weights(b), strict=True))


def test_patience_stops_the_run_keeps_the_best_model_and_a_rerun_trains_nothing(
    jsb: Path, tmp_path: Path
) -> None:
    # No evaluation can beat the first by 1e9: the 2nd and 3rd use up a patience of 2.
    early = EarlyStoppingConfig(patience=2, metric="nll_per_frame", min_delta=1e9)
    cfg = config(jsb, tmp_path, num_steps=40, eval_every=4, checkpoint_every=20,
                 keep_checkpoints=10, early_stopping=early)  # fmt: skip
    report = train(cfg)
    run = tmp_path / "pianoroll_lstm" / "r1"
    assert (report.steps, report.stopped) == (12, "early_stopping")
    assert report.checkpoints == [4, 8, 12]  # every evaluation is a checkpoint too
    assert (report.best["step"], report.best["metric"]) == (4, "nll_per_frame")
    evals = {r["step"]: r for r in rows(run) if r["split"] == "valid"}
    assert sorted(evals) == [4, 8, 12]
    assert report.best["value"] == pytest.approx(evals[4]["nll_per_frame"])
    stop = [r for r in rows(run) if r.get("event") == "stopped"]
    assert [(r["step"], r["reason"], r["best_step"]) for r in stop] == [(12, "early_stopping", 4)]
    # model.keras is the best evaluated model (step 4), not the last (step 12).
    model = run / "model.keras"
    assert model.read_bytes() == (run / "best.keras").read_bytes()
    assert same_weights(model, run / "checkpoints" / "ckpt-00000004.keras")
    assert not same_weights(model, run / "checkpoints" / "ckpt-00000012.keras")
    assert worker(run, 0)["stopped"] == "early_stopping"
    assert "stopped by early stopping" in report.summary()
    before = model.read_bytes()
    again = train(cfg)  # finished: no Ray Train run, nothing rewritten
    assert (again.steps, again.resumed_from, again.stopped) == (12, 12, "early_stopping")
    assert model.read_bytes() == before


def test_the_best_is_the_lowest_evaluation_when_patience_never_runs_out(
    jsb: Path, tmp_path: Path
) -> None:
    early = EarlyStoppingConfig(patience=100, metric="nll_per_frame")
    fast = OptimizerConfig(learning_rate=3e-2)
    report = train(config(jsb, tmp_path, num_steps=12, eval_every=3, keep_checkpoints=10,
                          optimizer=fast, early_stopping=early))  # fmt: skip
    run = tmp_path / "pianoroll_lstm" / "r1"
    evals = {r["step"]: r["nll_per_frame"] for r in rows(run) if r["split"] == "valid"}
    assert sorted(evals) == [3, 6, 9, 12]
    assert (report.steps, report.stopped) == (12, "")
    best_step = min(evals, key=lambda s: evals[s])
    assert report.best["step"] == best_step
    assert report.best["value"] == pytest.approx(evals[best_step])
    assert same_weights(run / "model.keras", run / "checkpoints" / f"ckpt-{best_step:08d}.keras")


def test_time_limit_pauses_the_run_and_the_same_config_resumes_it(
    jsb: Path, tmp_path: Path
) -> None:
    cfg = config(jsb, tmp_path, num_steps=20, checkpoint_every=5, eval_every=0,
                 max_minutes=1e-6)  # fmt: skip
    first = train(cfg)
    run = tmp_path / "pianoroll_lstm" / "r1"
    assert (first.steps, first.stopped) == (5, "time_limit")
    assert (run / "model.keras").is_file()  # a usable model at the pause
    assert not (run / "best.keras").exists()
    resumed = train(dataclasses.replace(cfg, max_minutes=None))
    assert (resumed.resumed_from, resumed.steps, resumed.stopped) == (5, 20, "")
    assert json.loads((run / "report.json").read_text())["steps"] == 20


def test_two_workers_stop_together(jsb: Path, tmp_path: Path) -> None:
    # Only rank 0 evaluates; rank 1 must leave the loop at the same step, or it would wait in
    # the next step's all-reduce forever.
    early = EarlyStoppingConfig(patience=1, metric="nll_per_frame", min_delta=1e9)
    cfg = config(jsb, tmp_path, num_workers=2, num_steps=40, eval_every=4, checkpoint_every=40,
                 early_stopping=early)  # fmt: skip
    report = train(cfg)
    run = tmp_path / "pianoroll_lstm" / "r1"
    assert (report.steps, report.stopped) == (8, "early_stopping")
    ranks = [worker(run, r) for r in (0, 1)]
    assert [w["final_step"] for w in ranks] == [8, 8]
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]


def test_early_stopping_needs_evaluations(jsb: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="eval_every"):
        config(jsb, tmp_path, eval_every=0, early_stopping=EarlyStoppingConfig(patience=2))
    empty = tmp_path / "no-valid"
    empty.mkdir()
    for item in jsb.iterdir():
        if item.name != "valid":
            (empty / item.name).symlink_to(item)
    with pytest.raises(ConfigError, match="valid"):
        train(config(empty, tmp_path, early_stopping=EarlyStoppingConfig(patience=2)))
