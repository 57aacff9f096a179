"""TrainConfig validation: every bad value is refused with the field's name."""

from __future__ import annotations

import pytest

from musicgen.errors import ConfigError
from musicgen.train.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig


def test_defaults_are_magentas_hyper_parameters() -> None:
    cfg = TrainConfig(data=DataConfig(dataset="ex"))
    assert cfg.model.layers == (512, 512, 512)
    assert (cfg.batch_size, cfg.optimizer.learning_rate, cfg.optimizer.clip_norm) == (64, 1e-3, 3.0)
    assert cfg.optimizer.epsilon == 1e-8
    assert not cfg.use_mixed_precision
    assert TrainConfig(data=DataConfig(dataset="ex"), use_gpu=True).use_mixed_precision


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: TrainConfig(), "data.dataset is empty"),
        (lambda: TrainConfig(data=DataConfig("ex"), batch_size=63, num_workers=2), "divide evenly"),
        (lambda: ModelConfig(family="transformer"), "model.family"),
        (lambda: ModelConfig(layers=()), "model.layers"),
        (lambda: ModelConfig(teacher_forcing=1.5), "teacher_forcing"),
        (lambda: ModelConfig(loss="mse"), "model.loss"),
        (lambda: OptimizerConfig(clip_norm=3.0, global_clip_norm=1.0), "not both"),
        (lambda: DataConfig("ex", window=1), "data.window"),
    ],
)
def test_bad_values_are_refused(make: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()  # type: ignore[operator]
