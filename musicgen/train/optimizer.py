"""Adam for a gradient the train step has already all-reduced (see :mod:`musicgen.train.step`).

Keras' optimizer all-reduces the gradients it is given whenever it runs in a replica context,
because it assumes they are each replica's part. Our step must all-reduce first, to clip the
*full* gradient as Magenta does, so Keras' exchange would be a second one of the whole gradient
every step. This Adam takes the gradient as it is; everything else is Keras' Adam, and its
variables (moments, iterations) are Adam's, so checkpoints load either way. If a Keras release
renamed the hook, the gradient would be summed N times over N workers: the 1-vs-2-worker
equivalence test compares Adam's moments, which would then be off by N.
"""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="musicgen")
class AllReducedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` that does not all-reduce (its input is already the sum)."""

    def _all_reduce_sum_gradients(self, grads_and_vars: Any) -> list[Any]:
        return list(grads_and_vars)
