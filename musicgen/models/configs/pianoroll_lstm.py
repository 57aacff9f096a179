"""The piano-roll LSTM's settings."""

from __future__ import annotations

from dataclasses import dataclass

from musicgen.models.configs.base import check_positive, check_sizes
from musicgen.models.configs.roll_output import RollOutputConfig


@dataclass(frozen=True)
class PianorollLSTMConfig(RollOutputConfig):
    """Stacked LSTMs over 88-key frames, one sigmoid per key.

    Attributes:
        layers: LSTM sizes.
        ramp_steps: Loss ramp: the first ``ramp_steps`` steps of each window get linearly
            growing weight (0 = off), since the state there has seen little context.
    """

    NAME = "pianoroll_lstm"

    layers: tuple[int, ...] = (512, 512, 512)
    ramp_steps: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_sizes("layers", self.layers)
        check_positive("ramp_steps", self.ramp_steps, minimum=0)
