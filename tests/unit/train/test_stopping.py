"""Early stopping's patience, its checkpoint form, and its settings."""

from __future__ import annotations

import math

import pytest

from musicgen.config import from_dict
from musicgen.errors import ConfigError
from musicgen.train.config import EarlyStoppingConfig, TrainConfig
from musicgen.train.stopping import EARLY_STOPPING, TIME_LIMIT, Patience, agree


def test_patience_counts_evaluations_since_the_best() -> None:
    patience = Patience()
    assert patience.update(5.0, 10, min_delta=0.0)
    assert not patience.update(5.0, 20, min_delta=0.0)  # equal is not better
    assert patience.update(4.0, 30, min_delta=0.0)
    assert not patience.update(3.95, 40, min_delta=0.1)  # better, but not by min_delta
    assert not patience.update(math.nan, 50, min_delta=0.0)
    assert (patience.best, patience.best_step, patience.since_best) == (4.0, 30, 2)
    assert patience.exhausted(2)
    assert not patience.exhausted(3)
    assert not patience.exhausted(0)  # off


def test_patience_survives_a_checkpoint_round_trip_as_json() -> None:
    import json

    fresh = Patience()
    assert json.loads(json.dumps(fresh.to_meta(), allow_nan=False))["best"] is None
    assert Patience.from_meta(fresh.to_meta()) == fresh
    assert Patience.from_meta(None) == fresh
    seen = Patience(3.5, 200, 1)
    assert Patience.from_meta(json.loads(json.dumps(seen.to_meta()))) == seen


def test_one_worker_agrees_with_itself() -> None:
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    for reason in ("", EARLY_STOPPING, TIME_LIMIT):
        assert agree(strategy, reason) == reason


def test_settings_are_checked_and_read_from_yaml_mappings() -> None:
    cfg = from_dict(
        TrainConfig,
        {"data": {"dataset": "d"}, "eval_every": 50, "max_minutes": 90,
         "early_stopping": {"patience": 3, "metric": "nll_per_frame"}},
    )  # fmt: skip
    assert cfg.early_stopping == EarlyStoppingConfig(patience=3, metric="nll_per_frame")
    assert cfg.max_minutes == 90.0
    with pytest.raises(ConfigError, match="eval_every"):
        from_dict(TrainConfig, {"data": {"dataset": "d"}, "early_stopping": {"patience": 3}})
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(EarlyStoppingConfig, {"patience": 3, "monitor": "loss"})
    for bad in ({"patience": -1}, {"min_delta": -0.1}, {"metric": ""}):
        with pytest.raises(ConfigError, match="early_stopping"):
            EarlyStoppingConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_minutes"):
        from_dict(TrainConfig, {"data": {"dataset": "d"}, "max_minutes": 0})
