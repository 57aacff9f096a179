"""TrainConfig validation: every bad value is refused with the field's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from musicgen.config import from_dict
from musicgen.errors import ConfigError
from musicgen.train.config import DataConfig, OptimizerConfig, TrainConfig, model_config


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
        (lambda: model_config(family="transformer"), "model.family"),
        (lambda: model_config(layers=()), "model.layers"),
        (lambda: model_config("pianoroll_lstm", teacher_forcing=1.5), "teacher_forcing"),
        (lambda: model_config("seq2seq_lstm", loss="mse"), "model.loss"),
        (lambda: model_config(ramp_steps=3), "model.ramp_steps does not apply to performance_rnn"),
        (lambda: OptimizerConfig(clip_norm=3.0, global_clip_norm=1.0), "not both"),
        (lambda: DataConfig("ex", window=1), "data.window"),
    ],
)
def test_bad_values_are_refused(make: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()  # type: ignore[operator]


def test_dry_run_shows_only_the_chosen_familys_model_keys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from musicgen.cli import main

    assert main(["train", "--dataset", "x", "--dry-run"]) == 0
    model = json.loads(capsys.readouterr().out)["model"]
    assert "time_layers" not in model
    assert "loss" not in model
    assert model["input_mode"] == "one_hot"


PRESETS = sorted((Path(__file__).resolve().parents[3] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS, ids=[p.name for p in PRESETS])
def test_every_preset_is_a_valid_train_config(preset: Path) -> None:
    import yaml

    data = yaml.safe_load(preset.read_text())
    data.setdefault("data", {})["dataset"] = "examples"
    cfg = from_dict(TrainConfig, data, source=str(preset))
    if preset.name.endswith("_jsb.yaml"):  # the benchmark presets keep the best valid model
        assert cfg.early_stopping.enabled
        assert cfg.data.eval_split == "valid"
