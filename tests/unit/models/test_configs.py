"""Per-family model configs: each family reads exactly its own keys, and anything else is an
error that names the key and the family's keys, from code, YAML, ``--set`` and saved runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from musicgen.config import from_dict
from musicgen.errors import ConfigError
from musicgen.models.configs import FAMILIES, valid_keys
from musicgen.models.registry import FAMILY_NAMES
from musicgen.train.config import DataConfig, TrainConfig, model_config

MODELS = Path(__file__).resolve().parents[3] / "musicgen" / "models"


def test_each_familys_config_holds_exactly_the_keys_its_model_module_reads() -> None:
    assert FAMILIES == FAMILY_NAMES
    for family in FAMILIES:
        source = (MODELS / f"{family}.py").read_text(encoding="utf-8")
        read = set(re.findall(r"\bcfg\.([a-z_0-9]+)", source))
        assert read == set(valid_keys(family)) - {"family"}, family
        assert set(model_config(family).applicable()) == set(valid_keys(family))


def test_a_key_another_family_reads_is_refused_naming_it_and_the_valid_keys() -> None:
    data = {"data": {"dataset": "ex"}, "model": {"family": "performance_rnn", "ramp_steps": 8}}
    with pytest.raises(ConfigError) as err:
        from_dict(TrainConfig, data, source="run.yaml")
    message = str(err.value)
    assert "run.yaml: model.ramp_steps does not apply to performance_rnn" in message
    assert "layers, input_mode, embedding_dim" in message
    # The same key is fine for the family that reads it, and the result is that family's class.
    data["model"]["family"] = "pianoroll_lstm"
    cfg = from_dict(TrainConfig, data)
    assert type(cfg.model).__name__ == "PianorollLSTMConfig"
    assert cfg.model.applicable()["ramp_steps"] == 8


def test_beam_like_and_typo_keys_are_errors_for_every_family() -> None:
    for family in FAMILIES:
        with pytest.raises(ConfigError, match=rf"model\.layerz does not apply to {family}"):
            from_dict(
                TrainConfig, {"data": {"dataset": "x"}, "model": {"family": family, "layerz": [4]}}
            )


def test_the_cli_exits_2_naming_an_inapplicable_set_key(capsys: pytest.CaptureFixture[str]) -> None:
    from musicgen.cli import main

    code = main(["train", "--dataset", "x", "--dry-run", "--set", "model.teacher_forcing=0.5"])
    assert code == 2
    err = capsys.readouterr().err
    assert "model.teacher_forcing does not apply to performance_rnn" in err
    assert "input_mode" in err


def test_a_config_saved_before_the_split_still_loads(tmp_path: Path) -> None:
    from musicgen.train.run_dir import load_config

    # What config.resolved.yaml held when ModelConfig was one flat union of every family's keys.
    flat_model = {
        "family": "biaxial_lstm", "layers": [512, 512, 512], "dropout": 0.1,
        "input_mode": "one_hot", "embedding_dim": 256, "loss": "bce", "focal_alpha": 0.25,
        "focal_gamma": 2.0, "ramp_steps": 0, "teacher_forcing": 1.0, "time_layers": [16],
        "note_layers": [8], "threshold": 0.4, "chords": None, "max_chords": None,
        "seq2seq_window": 16,
    }  # fmt: skip
    saved = tmp_path / "config.resolved.yaml"
    saved.write_text(yaml.safe_dump({"model": flat_model, "data": {"dataset": "ex"}}))
    cfg = load_config(str(saved))
    assert cfg.model == model_config(
        "biaxial_lstm", time_layers=(16,), note_layers=(8,), dropout=0.1, threshold=0.4
    )
    assert cfg == TrainConfig(model=cfg.model, data=DataConfig(dataset="ex"))


def test_a_family_builds_only_from_its_own_config() -> None:
    from musicgen.models.configs.base import narrowed
    from musicgen.models.configs.pianoroll_lstm import PianorollLSTMConfig

    with pytest.raises(ConfigError, match="pianoroll_lstm cannot be built from a biaxial_lstm"):
        narrowed(model_config("biaxial_lstm"), PianorollLSTMConfig)
