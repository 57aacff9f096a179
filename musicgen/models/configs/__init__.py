"""Each model family's typed config, by family name (no TensorFlow imported here).

``model_config(family, **values)`` builds a family's config and rejects a key that family does
not read, naming the key and the family's keys; ``read_model_config`` does the same for a mapping
(YAML, ``--set``), and ``legacy=True`` reads configs saved before the configs were split per
family, whose every family carried every key (the extra keys were ignored then and are dropped).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from musicgen.errors import ConfigError
from musicgen.models.configs.base import ModelConfig
from musicgen.models.configs.biaxial_lstm import BiaxialLSTMConfig
from musicgen.models.configs.chord_lstm import ChordLSTMConfig
from musicgen.models.configs.endecell import EndecellConfig
from musicgen.models.configs.performance_rnn import PerformanceRNNConfig
from musicgen.models.configs.pianoroll_lstm import PianorollLSTMConfig
from musicgen.models.configs.seq2one_lstm import Seq2OneLSTMConfig
from musicgen.models.configs.seq2seq_lstm import Seq2SeqLSTMConfig

DEFAULT_FAMILY = "performance_rnn"
FAMILY_CONFIGS: dict[str, type[ModelConfig]] = {
    cls.NAME: cls
    for cls in (
        PerformanceRNNConfig,
        PianorollLSTMConfig,
        BiaxialLSTMConfig,
        ChordLSTMConfig,
        Seq2SeqLSTMConfig,
        EndecellConfig,
        Seq2OneLSTMConfig,
    )
}
FAMILIES: tuple[str, ...] = tuple(FAMILY_CONFIGS)


def config_class(family: str) -> type[ModelConfig]:
    """The config dataclass of ``family``.

    Raises:
        ConfigError: No family has that name (lists the known ones).
    """
    if family not in FAMILY_CONFIGS:
        raise ConfigError(f"model.family must be one of {FAMILIES}, got {family!r}")
    return FAMILY_CONFIGS[family]


def valid_keys(family: str) -> tuple[str, ...]:
    """The model keys ``family`` reads, ``family`` first."""
    return tuple(f.name for f in dataclasses.fields(config_class(family)))


def check_keys(family: str, keys: Any, *, source: str = "model") -> None:
    """Raises ConfigError naming each key ``family`` does not read, and the keys it does."""
    unknown = sorted(set(keys) - set(valid_keys(family)))
    if unknown:
        named = ", ".join(f"{source}.{key}" for key in unknown)
        raise ConfigError(
            f"{named} {'does' if len(unknown) == 1 else 'do'} not apply to {family}; "
            f"its keys are: {', '.join(valid_keys(family))}"
        )


def model_config(family: str = DEFAULT_FAMILY, **values: Any) -> ModelConfig:
    """``family``'s config with ``values`` (typed Python values, e.g. in code and tests)."""
    check_keys(family, values)
    return config_class(family)(family=family, **values)


def legacy_keys_dropped(data: Mapping[str, Any]) -> dict[str, Any]:
    """A saved model mapping with the keys its family never read removed (see module doc)."""
    family = data.get("family", DEFAULT_FAMILY)
    keys = set(valid_keys(family))
    return {k: v for k, v in data.items() if k in keys}


__all__ = [
    "FAMILIES",
    "FAMILY_CONFIGS",
    "BiaxialLSTMConfig",
    "ChordLSTMConfig",
    "EndecellConfig",
    "ModelConfig",
    "PerformanceRNNConfig",
    "PianorollLSTMConfig",
    "Seq2OneLSTMConfig",
    "Seq2SeqLSTMConfig",
    "check_keys",
    "config_class",
    "legacy_keys_dropped",
    "model_config",
    "valid_keys",
]
