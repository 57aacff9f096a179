"""The encoder-decoder piano-roll LSTM's settings."""

from __future__ import annotations

from dataclasses import dataclass

from musicgen.models.configs.base import check_positive, check_sizes
from musicgen.models.configs.roll_output import RollOutputConfig


@dataclass(frozen=True)
class Seq2SeqLSTMConfig(RollOutputConfig):
    """An encoder reads a window of frames; a decoder writes the next window.

    Attributes:
        layers: The encoder's and the decoder's LSTM sizes (states are handed over).
        seq2seq_window: Frames the encoder reads and the decoder writes.
    """

    NAME = "seq2seq_lstm"

    layers: tuple[int, ...] = (512, 512, 512)
    seq2seq_window: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        check_sizes("layers", self.layers)
        check_positive("seq2seq_window", self.seq2seq_window)
