"""The loss pieces against their formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from musicgen.models import losses


def test_sparse_ce_and_masked_sum() -> None:
    logits = np.array([[[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]]], np.float32)
    labels = np.array([[0, 2]])
    mask = np.array([[1.0, 0.0]], np.float32)
    expected = -math.log(math.exp(2) / (math.exp(2) + 1 + math.exp(-1)))
    ce = losses.sparse_ce(labels, tf.constant(logits, tf.float16))
    assert ce.dtype == tf.float32
    np.testing.assert_allclose(ce.numpy()[0], [expected, math.log(3)], rtol=1e-3)
    total = losses.masked_sparse_ce_sum(labels, logits, mask)
    np.testing.assert_allclose(float(total), expected, rtol=1e-6)


def test_masked_sum_broadcasts_the_mask() -> None:
    values = tf.ones([2, 3, 4])
    mask = tf.constant([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert float(losses.masked_sum(values, mask)) == 3 * 4


def test_bce_matches_formula_and_is_stable() -> None:
    x = np.array([-3.0, 0.0, 2.0, 80.0, -80.0], np.float32)
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0], np.float32)
    p = 1 / (1 + np.exp(-x.astype(np.float64)))
    with np.errstate(divide="ignore"):
        naive = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    got = losses.bce_with_logits(y, x).numpy()
    np.testing.assert_allclose(got[:3], naive[:3], rtol=1e-5)
    np.testing.assert_allclose(got[3:], [80.0, 80.0], rtol=1e-5)
    assert float(losses.bce_with_logits([1.0], [0.0])[0]) == pytest.approx(math.log(2))


def test_focal_loss() -> None:
    x = np.array([-2.0, 0.5, 3.0, 90.0, -90.0], np.float32)
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0], np.float32)
    bce = losses.bce_with_logits(y, x).numpy()
    # gamma 0: the alpha-weighted BCE.
    plain = losses.focal_with_logits(y, x, alpha=0.25, gamma=0.0).numpy()
    np.testing.assert_allclose(plain, np.where(y == 1, 0.25, 0.75) * bce, rtol=1e-6)
    got = losses.focal_with_logits(y, x, alpha=0.25, gamma=2.0).numpy()
    p = 1 / (1 + np.exp(-x[:3].astype(np.float64)))
    p_t = np.where(y[:3] == 1, p, 1 - p)
    alpha_t = np.where(y[:3] == 1, 0.25, 0.75)
    np.testing.assert_allclose(got[:3], -alpha_t * (1 - p_t) ** 2 * np.log(p_t), rtol=1e-5)
    assert np.all(np.isfinite(got))
    assert got[3] > 0
    assert got[4] > 0
    assert np.all(got <= bce)  # easy examples are down-weighted


def test_ramp_weights() -> None:
    np.testing.assert_allclose(losses.ramp_weights(6, 3).numpy(), [0.25, 0.5, 0.75, 1, 1, 1])
    np.testing.assert_array_equal(losses.ramp_weights(4, 0).numpy(), np.ones(4))
    assert losses.ramp_weights(tf.constant(2), 5).shape == (2,)
