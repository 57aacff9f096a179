"""Config: strict keys, types, validation; errors name the source."""

import pytest

from musicgen.config import ConvertConfig, from_dict
from musicgen.errors import ConfigError


def test_from_dict_builds_and_widens_ints_to_floats() -> None:
    cfg = from_dict(ConvertConfig, {"input": "a", "output": "b", "max_failure_ratio": 0})
    assert cfg.max_failure_ratio == 0.0
    assert isinstance(cfg.max_failure_ratio, float)
    assert cfg.parser == "fast"


def test_unknown_key_names_source_and_key() -> None:
    with pytest.raises(ConfigError, match=r"my\.yaml: unknown key\(s\) \['shards'\]"):
        from_dict(ConvertConfig, {"input": "a", "output": "b", "shards": 3}, source="my.yaml")


@pytest.mark.parametrize(
    ("key", "value"),
    [("files_per_shard", "many"), ("files_per_shard", True), ("parser", 3), ("num_cpus", 1.5)],
)
def test_wrong_type_is_rejected(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key):
        from_dict(ConvertConfig, {"input": "a", "output": "b", key: value})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("files_per_shard", 0),
        ("max_failure_ratio", 1.5),
        ("parser", "mido"),
        ("num_cpus", 0),
        ("max_file_bytes", 0),
    ],
)
def test_invalid_values_are_rejected(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key):
        from_dict(ConvertConfig, {"input": "a", "output": "b", key: value})


def test_missing_required_field() -> None:
    with pytest.raises(ConfigError, match="output"):
        from_dict(ConvertConfig, {"input": "a"})


def test_nested_dataclasses_tuples_and_dotted_overrides() -> None:
    from musicgen.config import deep_merge, dotted
    from musicgen.train.config import TrainConfig

    data = deep_merge(
        {"data": {"dataset": "ex", "window": 64}, "model": {"family": "pianoroll_lstm"}},
        dotted("model.layers", [128, 64]),
    )
    cfg = from_dict(TrainConfig, data, source="t.yaml")
    assert cfg.model.layers == (128, 64)
    assert cfg.model.family == "pianoroll_lstm"
    assert (cfg.data.dataset, cfg.data.window) == ("ex", 64)
    assert cfg.optimizer.clip_norm == 3.0  # untouched defaults stay
    with pytest.raises(ConfigError, match=r"t.yaml: model.layer does not apply to performance_rnn"):
        from_dict(
            TrainConfig, {"data": {"dataset": "ex"}, "model": {"layer": [1]}}, source="t.yaml"
        )
    with pytest.raises(ConfigError, match=r"model: layers\[1\]: expected int"):
        from_dict(TrainConfig, {"data": {"dataset": "ex"}, "model": {"layers": [1, "x"]}})
    with pytest.raises(ConfigError, match="expected a list"):
        from_dict(TrainConfig, {"data": {"dataset": "ex"}, "model": {"layers": 5}})


def test_missing_required_settings_are_named_as_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from musicgen.cli import main

    assert main(["generate"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "musicgen generate: error: command line: missing required setting(s) run, output "
        "(give --run, --output, or set them in a --config YAML)"
    )
    assert "positional" not in err
