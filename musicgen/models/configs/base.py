"""What every family's model config shares, and the checks their fields reuse.

A family's config is a frozen dataclass subclassing :class:`ModelConfig`, in a module of this
package named after the family. The package imports no TensorFlow, so the CLI and config
validation can use it; the models import it (never the other way round, and never train/).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from musicgen.errors import ConfigError


@dataclass(frozen=True)
class ModelConfig:
    """The model: which family, plus the hyper-parameters that family reads.

    Attributes:
        family: The family's name (each subclass fixes it; a wrong one is an error).
        dropout: Output dropout between recurrent layers (Magenta's keep_prob 1.0 = 0.0 here).
    """

    NAME: ClassVar[str] = ""

    family: str = ""
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if not self.family:
            object.__setattr__(self, "family", self.NAME)
        if self.family != self.NAME:
            raise ConfigError(f"model.family {self.family!r} does not match {type(self).__name__}")
        check_unit_interval("dropout", self.dropout, closed=False)

    @classmethod
    def resolve_class(cls, data: Mapping[str, Any], source: str = "model") -> type[ModelConfig]:
        """The subclass a mapping describes: its ``family``'s config, after checking that every
        key applies to that family (the error names the key and the family's keys)."""
        from musicgen.models.configs import DEFAULT_FAMILY, check_keys, config_class

        family = data.get("family", cls.NAME or DEFAULT_FAMILY)
        if not isinstance(family, str):
            raise ConfigError(f"{source}: family must be a name, got {family!r}")
        check_keys(family, data, source=source)
        return config_class(family)

    def applicable(self) -> dict[str, object]:
        """``family`` and this family's keys with their values (for ``--dry-run`` and logs)."""
        from dataclasses import asdict

        return asdict(self)


def check_sizes(name: str, sizes: tuple[int, ...]) -> None:
    """Layer sizes: at least one, all positive."""
    if not sizes or any(s < 1 for s in sizes):
        raise ConfigError(f"model.{name} must be positive sizes, got {sizes}")


def check_unit_interval(name: str, value: float, *, closed: bool = True) -> None:
    """``value`` in [0, 1] (``closed``) or [0, 1)."""
    if not (0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0):
        bounds = "[0, 1]" if closed else "[0, 1)"
        raise ConfigError(f"model.{name} must be in {bounds}, got {value}")


def check_positive(name: str, value: int, minimum: int = 1) -> None:
    """An integer setting of at least ``minimum``."""
    if value < minimum:
        raise ConfigError(f"model.{name} must be >= {minimum}, got {value}")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """One of ``choices``."""
    if value not in choices:
        raise ConfigError(f"model.{name} must be one of {choices}, got {value!r}")


ConfigT = TypeVar("ConfigT", bound=ModelConfig)


def narrowed(cfg: ModelConfig, cls: type[ConfigT]) -> ConfigT:
    """``cfg`` as its family's config class (a family builds only from its own config)."""
    if not isinstance(cfg, cls):
        raise ConfigError(f"{cls.NAME} cannot be built from a {cfg.family} model config")
    return cfg


def with_chords(cfg: ModelConfig, chords: str) -> ModelConfig:
    """``cfg`` with its chord vocabulary file set (for the families that have a ``chords`` key)."""
    import dataclasses

    changes: dict[str, Any] = {"chords": chords}
    return dataclasses.replace(cfg, **changes)
