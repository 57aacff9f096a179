"""Keras' LSTM with a faster sequence loop where cuDNN is not there (CPU training).

Keras' generic loop (``backend.rnn`` over ``LSTMCell``) multiplies the step's input by the kernel
inside the time loop, and autodiff through the ``while_loop`` accumulates both weight gradients
one step at a time. :class:`FusedLSTM` keeps Keras' weights, config and cuDNN path, and on CPU:

- projects every step's input in one GEMM before the loop (``x @ W + b`` over ``[B*T, in]``;
  for one-hot inputs a row gather of ``W``, see :func:`sequence_from_ids`);
- runs one GEMM per step in the loop (``h @ U``), forward and backward;
- computes ``dU``, ``dW`` and ``db`` after the backward loop as single GEMMs over all steps.

The math is Keras' (gates i, f, c, o; ``c' = f*c + i*tanh(z_c)``, ``h' = o*tanh(c')``), so a
model trains on either path and loads the other's checkpoints. The loop runs in the layer's
compute dtype (float16/bfloat16 under mixed precision) and its gradient is float32-accumulated by
the GEMMs as TensorFlow does.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="musicgen")
class FusedLSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` (same weights, same config) whose CPU loop is :func:`lstm_sequence`.

    The cuDNN kernel is used wherever Keras would use it (a GPU and cuDNN-eligible arguments);
    the fused loop where there is no GPU and the layer is plain (no mask, no dropout, forward,
    tanh/sigmoid, with bias); Keras' generic loop otherwise.
    """

    def fused_applies(self, mask: Any, training: bool | None, gpu: bool | None = None) -> bool:
        """Whether :meth:`inner_loop` takes the fused CPU loop for this call (``gpu``: whether
        a GPU is there, detected when None)."""
        if gpu is None:
            gpu = bool(tf.config.list_logical_devices("GPU"))
        dropping = bool(training) and bool(self.dropout or self.recurrent_dropout)
        return (
            mask is None
            and not dropping
            and not self.go_backwards
            and not self.unroll
            and self.use_cudnn is not True
            and self.cell.use_bias
            and self.cell.activation is keras.activations.tanh
            and self.cell.recurrent_activation is keras.activations.sigmoid
            and not gpu
        )

    def inner_loop(
        self, sequences: Any, initial_state: Any, mask: Any, training: Any = False
    ) -> Any:
        if not self.fused_applies(mask, training):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        dtype = sequences.dtype
        kernel = tf.cast(self.cell.kernel, dtype)
        # Time-major before the GEMM: the input is narrower than its projection (4H).
        steps = tf.transpose(sequences, (1, 0, 2))
        shape = tf.shape(steps)
        flat = tf.reshape(steps, (shape[0] * shape[1], shape[2]))
        projected = tf.reshape(tf.matmul(flat, kernel), (shape[0], shape[1], 4 * self.units))
        return self.from_projection(projected, initial_state)

    def from_projection(self, projected: Any, initial_state: Any = None) -> Any:
        """Keras' ``inner_loop`` result ``(last, outputs [B, T, H], [h, c])`` for time-major
        ``x @ W`` (``[T, B, 4H]``)."""
        dtype = projected.dtype
        batch = tf.shape(projected)[1]
        if initial_state is None:
            zeros = tf.zeros((batch, self.units), dtype)
            initial_state = [zeros, zeros]
        h0, c0 = (tf.cast(s, dtype) for s in initial_state)
        outputs, h, c = lstm_sequence(
            projected + tf.cast(self.cell.bias, dtype),
            tf.cast(self.cell.recurrent_kernel, dtype),
            h0,
            c0,
        )
        return h, tf.transpose(outputs, (1, 0, 2)), [h, c]


def sequence_from_ids(
    layer: FusedLSTM, ids: Any, depth: int, dtype: Any, training: bool = False
) -> Any:
    """The layer's outputs ``[B, T, H]`` for one-hot inputs of ``ids``: rows of W, gathered.

    ``one_hot(ids) @ W`` picks row ``ids`` of W with every other product an exact zero, so the
    gather is the same number, without the ``depth``-wide GEMM or its gradient. Where the fused
    loop does not apply (a GPU: cuDNN takes the one-hot GEMM in its kernel; input dropout) the
    layer gets the one-hot rows.
    """
    if not layer.fused_applies(None, training):
        return layer(tf.one_hot(ids, depth, dtype=dtype), training=training)
    projected = tf.gather(tf.cast(layer.cell.kernel, dtype), tf.transpose(ids))  # time-major
    _, outputs, _ = layer.from_projection(projected)
    return outputs


@tf.custom_gradient
def lstm_sequence(projected: Any, recurrent: Any, h0: Any, c0: Any) -> Any:
    """The LSTM over time-major ``projected`` (``x @ W + b``, ``[T, B, 4H]``).

    Returns ``(outputs [T, B, H], h_T, c_T)``; the gradient is the hand-written backward loop
    (one GEMM per step) and whole-sequence GEMMs for ``dU``.
    """
    steps = tf.shape(projected)[0]
    dtype = projected.dtype
    gates_ta = tf.TensorArray(dtype, size=steps)  # pre-activations z per step
    cells_ta = tf.TensorArray(dtype, size=steps)
    outputs_ta = tf.TensorArray(dtype, size=steps)

    def forward(t: Any, h: Any, c: Any, gates_ta: Any, cells_ta: Any, outputs_ta: Any) -> Any:
        z = projected[t] + tf.matmul(h, recurrent)
        zi, zf, zc, zo = tf.split(z, 4, axis=1)
        i, f, g, o = tf.sigmoid(zi), tf.sigmoid(zf), tf.tanh(zc), tf.sigmoid(zo)
        c = f * c + i * g
        h = o * tf.tanh(c)
        gates_ta = gates_ta.write(t, z)  # activations are recomputed backward: no concat
        return t + 1, h, c, gates_ta, cells_ta.write(t, c), outputs_ta.write(t, h)

    _, h, c, gates_ta, cells_ta, outputs_ta = tf.while_loop(
        lambda t, *_: t < steps,
        forward,
        (tf.constant(0), h0, c0, gates_ta, cells_ta, outputs_ta),
        parallel_iterations=1,
    )
    gates = gates_ta.stack()
    cells = cells_ta.stack()
    outputs = outputs_ta.stack()

    def backward(d_outputs: Any, d_h_last: Any, d_c_last: Any) -> Any:
        # An output the loss does not use may come back as None.
        d_outputs = tf.zeros_like(outputs) if d_outputs is None else tf.cast(d_outputs, dtype)
        d_h_last = tf.zeros_like(h0) if d_h_last is None else d_h_last
        d_c_last = tf.zeros_like(c0) if d_c_last is None else d_c_last
        previous_cells = tf.concat([c0[None], cells[:-1]], axis=0)
        recurrent_t = tf.transpose(recurrent)
        dz_ta = tf.TensorArray(dtype, size=steps)

        def step(t: Any, dh: Any, dc: Any, dz_ta: Any) -> Any:
            zi, zf, zc, zo = tf.split(gates[t], 4, axis=1)
            i, f, g, o = tf.sigmoid(zi), tf.sigmoid(zf), tf.tanh(zc), tf.sigmoid(zo)
            dh = dh + d_outputs[t]
            tanh_c = tf.tanh(cells[t])
            do = dh * tanh_c
            dc = dc + dh * o * (1 - tanh_c * tanh_c)
            dz = tf.concat(
                [
                    dc * g * i * (1 - i),
                    dc * previous_cells[t] * f * (1 - f),
                    dc * i * (1 - g * g),
                    do * o * (1 - o),
                ],
                axis=1,
            )
            return t - 1, tf.matmul(dz, recurrent_t), dc * f, dz_ta.write(t, dz)

        _, dh0, dc0, dz_ta = tf.while_loop(
            lambda t, *_: t >= 0,
            step,
            (steps - 1, tf.cast(d_h_last, dtype), tf.cast(d_c_last, dtype), dz_ta),
            parallel_iterations=1,
        )
        dz_all = dz_ta.stack()  # [T, B, 4H]
        previous_h = tf.concat([h0[None], outputs[:-1]], axis=0)
        d_recurrent = tf.einsum("tbh,tbg->hg", previous_h, dz_all)
        return dz_all, d_recurrent, dh0, dc0

    return (outputs, h, c), backward
