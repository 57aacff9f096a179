"""Run directory naming, the resolved config, metrics.jsonl on resume, and gradient clipping."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from musicgen.errors import ConfigError
from musicgen.train.config import DataConfig, OptimizerConfig, TrainConfig, model_config
from musicgen.train.metrics import MetricsLog, read_rows
from musicgen.train.run_dir import load_config, run_dir_of, with_run_id, write_config


def cfg(tmp_path: Path, **kw: object) -> TrainConfig:
    return TrainConfig(data=DataConfig(dataset="d"), runs_dir=str(tmp_path), **kw)  # type: ignore[arg-type]


def test_run_dir_layout_and_config_round_trip(tmp_path: Path) -> None:
    c = with_run_id(cfg(tmp_path, model=model_config(layers=(8, 8))))
    assert c.run_id
    run = run_dir_of(c)
    assert run.uri == str(tmp_path / "performance_rnn" / c.run_id)
    assert write_config(run, c) is False
    assert load_config(run.config) == c
    assert write_config(run, c) is True  # a resume
    with pytest.raises(ConfigError, match=r"config\.resolved\.yaml"):
        write_config(
            run, with_run_id(cfg(tmp_path, run_id=c.run_id, model=model_config(layers=(4,))))
        )
    with pytest.raises(ConfigError, match="run_id"):
        with_run_id(cfg(tmp_path, run_id="../escape"))


def test_metrics_drop_rows_after_the_resumed_step(tmp_path: Path) -> None:
    uri = str(tmp_path / "metrics.jsonl")
    log = MetricsLog(uri, 0)
    for step in (10, 20, 30):
        log.add({"step": step, "split": "train", "loss": float("nan") if step == 30 else 1.0})
    log.flush()
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])["loss"] is None
    MetricsLog(uri, 20)
    assert [r["step"] for r in read_rows(uri)] == [10, 20]


def test_no_nan_string_reaches_metrics_jsonl(tmp_path: Path) -> None:
    import numpy as np

    uri = str(tmp_path / "metrics.jsonl")
    log = MetricsLog(uri, 0)
    log.add({"step": 1, "split": "eval", "no_event_accuracy": float("nan"),
             "loss": np.float32("inf"), "accuracy": np.float64(0.5)})  # fmt: skip
    log.flush()
    text = (tmp_path / "metrics.jsonl").read_text()
    assert "nan" not in text.lower()
    assert "inf" not in text.lower()
    row = read_rows(uri)[-1]
    assert (row["no_event_accuracy"], row["loss"], row["accuracy"]) == (None, None, 0.5)


def test_clip_is_per_tensor_by_default_and_global_on_request() -> None:
    import tensorflow as tf

    from musicgen.train.step import clip

    grads = [tf.constant([3.0, 4.0]), tf.constant([0.3, 0.4])]
    per_tensor = clip(grads, OptimizerConfig(clip_norm=1.0))
    np.testing.assert_allclose([float(tf.norm(g)) for g in per_tensor], [1.0, 0.5], rtol=1e-6)
    joint = clip(grads, OptimizerConfig(clip_norm=None, global_clip_norm=1.0))
    np.testing.assert_allclose(float(tf.linalg.global_norm(joint)), 1.0, rtol=1e-6)
    assert clip(grads, OptimizerConfig(clip_norm=None)) is grads
