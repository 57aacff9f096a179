"""The biaxial LSTM's settings (Johnson 2017)."""

from __future__ import annotations

from dataclasses import dataclass

from musicgen.models.configs.base import ModelConfig, check_sizes
from musicgen.models.configs.roll_output import check_threshold


@dataclass(frozen=True)
class BiaxialLSTMConfig(ModelConfig):
    """A time-axis LSTM per key, then a note-axis LSTM across keys.

    Attributes:
        time_layers: Time-axis LSTM sizes (Johnson 2017: 300, 300).
        note_layers: Note-axis LSTM sizes (Johnson 2017: 100, 50).
        threshold: Probability above which a key counts as on (accuracy).
    """

    NAME = "biaxial_lstm"

    time_layers: tuple[int, ...] = (300, 300)
    note_layers: tuple[int, ...] = (100, 50)
    threshold: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_sizes("time_layers", self.time_layers)
        check_sizes("note_layers", self.note_layers)
        check_threshold(self.threshold)
