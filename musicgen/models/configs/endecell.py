"""The EnDeCell model's settings: an encoder/decoder over the keys inside every time step."""

from __future__ import annotations

from dataclasses import dataclass

from musicgen.errors import ConfigError
from musicgen.models.configs.base import ModelConfig, check_positive, check_sizes
from musicgen.models.configs.roll_output import check_threshold

KEYS = 88  # the piano roll's width; a key chunk must tile it exactly


@dataclass(frozen=True)
class EndecellConfig(ModelConfig):
    """A key-axis encoder compresses each frame, a time LSTM links frames, and a key-axis
    decoder writes the next frame key by key (autoregressive within the frame).

    Attributes:
        encoder_size: Units of the encoder LSTM; its final state is the frame's embedding.
        time_layers: Time LSTM sizes (over the frame embeddings).
        decoder_size: Units of the decoder LSTM.
        key_chunk: Keys read and written per encoder/decoder step (88 / key_chunk steps per
            frame); a divisor of 88 below 88. Keys within one chunk are drawn independently.
        threshold: Probability above which a key counts as on (accuracy, argmax generation).
        pretrained_autoencoder: Encoder/decoder weights saved by
            ``musicgen.models.endecell_pretrain`` (local path or ``gs://`` URI) to start from;
            None: random initialization.
    """

    NAME = "endecell"

    encoder_size: int = 128
    time_layers: tuple[int, ...] = (256, 256)
    decoder_size: int = 128
    key_chunk: int = 1
    threshold: float = 0.5
    pretrained_autoencoder: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("encoder_size", self.encoder_size)
        check_sizes("time_layers", self.time_layers)
        check_positive("decoder_size", self.decoder_size)
        check_key_chunk(self.key_chunk)
        check_threshold(self.threshold)
        if self.pretrained_autoencoder is not None and not self.pretrained_autoencoder:
            raise ConfigError("model.pretrained_autoencoder must be a path or null, got ''")


def check_key_chunk(key_chunk: int, keys: int = KEYS) -> None:
    """A chunk size that tiles the keyboard (a ragged last chunk would need its own weights),
    smaller than it (one chunk of all keys leaves nothing autoregressive in a frame)."""
    if not 1 <= key_chunk < keys or keys % key_chunk:
        divisors = [d for d in range(1, keys) if keys % d == 0]
        raise ConfigError(
            f"model.key_chunk must divide {keys} (one of {divisors}), got {key_chunk}"
        )
