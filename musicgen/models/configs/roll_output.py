"""Settings of the families that predict 88 independent keys per frame (sigmoids)."""

from __future__ import annotations

from dataclasses import dataclass

from musicgen.errors import ConfigError
from musicgen.models.configs.base import (
    ModelConfig,
    check_choice,
    check_positive,
    check_unit_interval,
)

LOSSES = ("bce", "focal")


@dataclass(frozen=True)
class RollOutputConfig(ModelConfig):
    """A piano-roll output layer's loss and training settings.

    Attributes:
        loss: ``bce`` (binary cross-entropy with logits) or ``focal``.
        focal_alpha: Focal-loss weight of positive (sounding) keys.
        focal_gamma: Focal-loss focusing exponent.
        teacher_forcing: Share of ground-truth previous frames fed as inputs during training;
            below 1.0 the rest are replaced by the model's own sampled predictions.
        threshold: Probability above which a key counts as on (accuracy, generation).
    """

    loss: str = "bce"
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    teacher_forcing: float = 1.0
    threshold: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("loss", self.loss, LOSSES)
        check_unit_interval("teacher_forcing", self.teacher_forcing)
        check_threshold(self.threshold)


def check_threshold(threshold: float) -> None:
    """A key-on probability threshold, strictly inside (0, 1)."""
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"model.threshold must be in (0, 1), got {threshold}")


__all__ = ["LOSSES", "RollOutputConfig", "check_positive", "check_threshold"]
