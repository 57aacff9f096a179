"""PerformanceRNN's settings (Magenta's 3 x 512 LSTM by default)."""

from __future__ import annotations

from dataclasses import dataclass

from musicgen.models.configs.base import ModelConfig, check_choice, check_positive, check_sizes

INPUT_MODES = ("one_hot", "embedding")


@dataclass(frozen=True)
class PerformanceRNNConfig(ModelConfig):
    """PerformanceRNN.

    Attributes:
        layers: LSTM sizes (Magenta: 512, 512, 512).
        input_mode: ``one_hot`` (Magenta's exact inputs, also for conditioned/modulo/note
            encodings) or ``embedding`` (token ids; plain encodings).
        embedding_dim: Width of the token embedding in ``embedding`` mode.
    """

    NAME = "performance_rnn"

    layers: tuple[int, ...] = (512, 512, 512)
    input_mode: str = "one_hot"
    embedding_dim: int = 256

    def __post_init__(self) -> None:
        super().__post_init__()
        check_sizes("layers", self.layers)
        check_choice("input_mode", self.input_mode, INPUT_MODES)
        check_positive("embedding_dim", self.embedding_dim)
