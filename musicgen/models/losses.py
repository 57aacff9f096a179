"""Loss pieces shared by the families: element-wise losses on float32 logits, and masked sums.

Everything returns float32 *per element* or *sums*, never means: a family's ``batch_stats``
reports sums and the trainer divides by the all-reduced weight (see :mod:`.family`). Logits are
cast to float32 first, so a mixed-precision model cannot lose the loss to float16 rounding.
"""

from __future__ import annotations

import tensorflow as tf


def sparse_ce(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Softmax cross-entropy (nats) per position: labels ``[...]`` int, logits ``[..., C]``."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=tf.cast(logits, tf.float32)
    )


def masked_sum(values: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """``sum(values * mask)`` in float32; ``mask`` broadcasts against ``values``' leading axes."""
    values = tf.cast(values, tf.float32)
    mask = tf.cast(mask, tf.float32)
    while mask.shape.rank < values.shape.rank:
        mask = mask[..., None]
    return tf.reduce_sum(values * mask)


def masked_sparse_ce_sum(labels: tf.Tensor, logits: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Cross-entropy summed over the real (``mask == 1``) positions."""
    return masked_sum(sparse_ce(labels, logits), mask)


def bce_with_logits(targets: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Binary cross-entropy (nats) per element, from logits (numerically stable)."""
    return tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.cast(targets, tf.float32), logits=tf.cast(logits, tf.float32)
    )


def focal_with_logits(
    targets: tf.Tensor, logits: tf.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> tf.Tensor:
    """Focal loss (Lin et al. 2017) per element: ``-alpha_t (1 - p_t)^gamma log p_t``.

    ``alpha`` weighs the positive class (sounding keys), ``1 - alpha`` the negative one;
    ``gamma = 0`` and ``alpha = 0.5`` give half the BCE. ``log p_t`` comes from the stable BCE,
    so saturated logits give no NaN.
    """
    targets = tf.cast(targets, tf.float32)
    bce = bce_with_logits(targets, logits)
    p_t = tf.exp(-bce)
    alpha_t = alpha * targets + (1.0 - alpha) * (1.0 - targets)
    return alpha_t * tf.pow(1.0 - p_t, gamma) * bce


def ramp_weights(num_steps: tf.Tensor | int, ramp_steps: int) -> tf.Tensor:
    """Per-step weights ``[num_steps]``: ``(t + 1) / (ramp_steps + 1)`` for the first
    ``ramp_steps`` steps, then 1.

    The state at the start of a window has seen little context, so its predictions are worse
    for reasons the model cannot fix; ramping their weight keeps them from dominating early
    training. ``ramp_steps = 0`` gives all ones.
    """
    steps = tf.cast(tf.range(num_steps), tf.float32)
    if ramp_steps <= 0:
        return tf.ones_like(steps)
    return tf.minimum((steps + 1.0) / float(ramp_steps + 1), 1.0)
