"""The contract between a model family and the trainer (and, later, the generator).

A family knows how to build its Keras model from the typed config and the dataset's
``encoding.json``, how to read its batches, and how to score a batch. Scores are *sums* over the
batch (``loss_sum``, ``weight`` and any metric numerators/denominators), never means: the
distributed step all-reduces ``weight`` across replicas and divides, so 1 or N workers compute
exactly the same loss for the same global batch, and evaluation totals add up across batches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from musicgen.examples.encoding_info import EncodingInfo
    from musicgen.models.configs import ModelConfig
    from musicgen.train.config import DataConfig

# Keys every `batch_stats` result must have.
LOSS_SUM = "loss_sum"  # what training minimizes, summed (training=True may weight it: ramp, focal)
WEIGHT = "weight"  # its denominator: real steps, frames or events in the batch
NLL_SUM = "nll_sum"  # the paper's NLL numerator (nats), never reweighted
NLL_WEIGHT = "nll_weight"  # its denominator: events (performance) or frames (piano roll)


class ModelFamily(Protocol):
    """One model family (``performance_rnn``, ``pianoroll_lstm``, ``biaxial_lstm``, ...)."""

    name: str

    def build(self, cfg: ModelConfig, info: EncodingInfo) -> keras.Model:
        """A new, built (weights created) Keras model for this dataset."""
        ...

    def dataset(
        self,
        files: Sequence[str],
        info: EncodingInfo,
        data: DataConfig,
        *,
        batch_size: int,
        training: bool,
        seed: int,
        num_shards: int,
        shard_index: int,
    ) -> tf.data.Dataset:
        """Batches for this family (dicts of tensors), sharded for one worker.

        ``training=True``: shuffled and repeated forever; else one ordered pass.
        """
        ...

    def batch_stats(
        self, model: keras.Model, batch: Mapping[str, tf.Tensor], training: bool
    ) -> dict[str, tf.Tensor]:
        """Scalar float32 sums for one batch: LOSS_SUM, WEIGHT, NLL_SUM, NLL_WEIGHT, and any
        metric numerators/denominators (e.g. ``correct``/``weight``). Runs inside tf.function
        and inside ``strategy.run``; must be differentiable in LOSS_SUM when training."""
        ...

    def summarize(self, totals: Mapping[str, float]) -> dict[str, float]:
        """Metrics in the papers' units from summed stats (loss, perplexity, accuracy, NLL,
        and family extras such as event / no-event accuracy or nats per frame)."""
        ...

    def custom_objects(self) -> dict[str, Any]:
        """Custom layers/losses needed to load this family's ``.keras`` files."""
        ...
