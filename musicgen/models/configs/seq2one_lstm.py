"""The many-to-one LSTM's settings: a window of steps in, the next step out."""

from __future__ import annotations

from dataclasses import dataclass

from musicgen.models.configs.base import ModelConfig, check_choice, check_positive, check_sizes
from musicgen.models.configs.roll_output import check_threshold

TARGETS = ("chord", "frame")


@dataclass(frozen=True)
class Seq2OneLSTMConfig(ModelConfig):
    """Stacked LSTMs read the ``window`` steps before a frame; a dense layer predicts it.

    Attributes:
        target: ``chord`` (one class of the chord vocabulary per frame, as ``chord_lstm``) or
            ``frame`` (each of the 88 keys off, started or continued).
        layers: LSTM sizes.
        dense_size: Width of the ReLU layer between the last LSTM output and the softmax.
        window: Steps of context the model reads (fewer at the start of a piece).
        embedding_dim: Width of the chord embedding (``target: chord``).
        chords: The vocabulary file (``target: chord``); None: ``<data.dataset>/chords.json``,
            which the training config fills in.
        max_chords: Keep only the most frequent chords, this many classes in all (the
            out-of-vocabulary and silence classes included); None: the whole vocabulary.
        threshold: Probability above which a key counts as on (``target: frame``: frame
            accuracy and argmax generation).
    """

    NAME = "seq2one_lstm"

    dropout: float = 0.3
    target: str = "chord"
    layers: tuple[int, ...] = (512, 512, 512)
    dense_size: int = 256
    window: int = 16
    embedding_dim: int = 256
    chords: str | None = None
    max_chords: int | None = None
    threshold: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("target", self.target, TARGETS)
        check_sizes("layers", self.layers)
        check_positive("dense_size", self.dense_size)
        check_positive("window", self.window)
        check_positive("embedding_dim", self.embedding_dim)
        if self.max_chords is not None:
            check_positive("max_chords", self.max_chords, minimum=3)
        check_threshold(self.threshold)
