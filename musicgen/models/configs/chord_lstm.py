"""The chord-vocabulary LSTM's settings."""

from __future__ import annotations

from dataclasses import dataclass

from musicgen.models.configs.base import ModelConfig, check_positive, check_sizes


@dataclass(frozen=True)
class ChordLSTMConfig(ModelConfig):
    """A softmax over a vocabulary of chords (sets of simultaneous notes).

    Attributes:
        layers: LSTM sizes.
        embedding_dim: Width of the chord embedding.
        chords: The vocabulary file; None: ``<data.dataset>/chords.json``, which the training
            config fills in (so the resolved config names the file it used).
        max_chords: Keep only the most frequent chords, this many classes in all (the
            out-of-vocabulary and silence classes included); None: the whole vocabulary.
    """

    NAME = "chord_lstm"

    layers: tuple[int, ...] = (512, 512, 512)
    embedding_dim: int = 256
    chords: str | None = None
    max_chords: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_sizes("layers", self.layers)
        check_positive("embedding_dim", self.embedding_dim)
        if self.max_chords is not None:
            check_positive("max_chords", self.max_chords, minimum=3)
