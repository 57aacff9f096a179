"""One PerformanceRNN step on the cells' own weights, for compiled generation loops.

Per step, for one-hot event inputs and plain LSTM cells (:class:`GatheredCells`):

- a row gather of the first kernel (``one_hot(e) @ W`` is row ``e`` of ``W``; the control
  columns, when there are any, still multiply their slice of ``W``);
- one GEMM per further layer, ``[x, h] @ [W; U]``, with the stacked kernel built once
  (:meth:`GatheredCells.packed`).

The math is Keras' ``LSTMCell`` (gates i, f, c, o; ``c' = f*c + i*tanh(z_c)``, ``h' =
o*tanh(c')``). Any other model (embedding input, modulo/note encodings, other cells) takes
Keras' cells on the built input row (:class:`KerasCells`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from musicgen.encodings import performance as perf

if TYPE_CHECKING:
    from musicgen.generate.performance_generator import PerformanceStepper


def _plain_cells(stepper: PerformanceStepper) -> bool:
    """Whether every cell is Keras' default LSTM math (tanh/sigmoid, with a bias)."""
    import keras

    return all(
        cell.use_bias
        and cell.activation is keras.activations.tanh
        and cell.recurrent_activation is keras.activations.sigmoid
        for cell in stepper.cells
    )


class KerasCells:
    """The step through Keras' cells on the built input row (any encoding, any cell)."""

    def __init__(self, stepper: PerformanceStepper) -> None:
        import tensorflow as tf

        self.stepper = stepper
        config = stepper.config
        self.table = tf.constant(
            perf.event_inputs(np.arange(config.num_event_classes), config), tf.float32
        )

    def packed(self) -> tuple[Any, ...]:
        """Nothing to prepare per call."""
        return ()

    def __call__(self, controls: Any, picks: Any, state: list[Any], packed: Any) -> Any:
        """``(logits, state)`` for the picks, with their rows' ``controls``."""
        import tensorflow as tf

        if self.stepper.embedding:
            return self.stepper._step_graph(picks, state)
        row = tf.concat([controls, tf.gather(self.table, picks)], -1)
        return self.stepper._step_graph(row, state)


class GatheredCells:
    """The step on the cells' own weights, for one-hot event inputs and plain LSTM cells: the
    first kernel's event rows gathered, one ``[x, h] @ [W; U]`` GEMM per further layer."""

    def __init__(self, stepper: PerformanceStepper, control_width: int) -> None:
        self.cells, self.dense = stepper.cells, stepper.dense
        self.control_width = control_width

    def packed(self) -> tuple[Any, ...]:
        """Per call, outside the step loop: the first kernel split into its control and event
        rows, and each further layer's ``[W; U]``."""
        import tensorflow as tf

        def f32(weight: Any) -> Any:
            return tf.cast(weight, tf.float32)

        first = f32(self.cells[0].kernel)
        stacked = [tf.concat([f32(c.kernel), f32(c.recurrent_kernel)], 0) for c in self.cells[1:]]
        return first[: self.control_width], first[self.control_width :], stacked

    def __call__(self, controls: Any, picks: Any, state: list[Any], packed: Any) -> Any:
        """``(logits, state)`` for the picks, with their rows' ``controls``."""
        import tensorflow as tf

        control_kernel, event_kernel, stacked = packed
        cells = self.cells
        z = tf.gather(event_kernel, picks) + tf.matmul(
            state[0], tf.cast(cells[0].recurrent_kernel, tf.float32)
        )
        if self.control_width:
            z += tf.matmul(controls, control_kernel)
        x, c = _gates(z + tf.cast(cells[0].bias, tf.float32), state[1])
        new_state = [x, c]
        for i, cell in enumerate(cells[1:], start=1):
            z = tf.matmul(tf.concat([x, state[2 * i]], -1), stacked[i - 1])
            x, c = _gates(z + tf.cast(cell.bias, tf.float32), state[2 * i + 1])
            new_state += [x, c]
        kernel, bias = tf.cast(self.dense.kernel, tf.float32), tf.cast(self.dense.bias, tf.float32)
        return tf.matmul(x, kernel) + bias, new_state


def _gates(z: Any, c: Any) -> tuple[Any, Any]:
    """Keras' LSTM update from the pre-activations ``z`` (gates i, f, c, o)."""
    import tensorflow as tf

    i, f, g, o = tf.split(z, 4, axis=-1)
    c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
    return tf.sigmoid(o) * tf.tanh(c), c


def step_cells(stepper: PerformanceStepper, control_width: int) -> KerasCells | GatheredCells:
    """The gathered step where the event input is a plain one-hot and the cells are plain."""
    config = stepper.config
    events = perf.event_inputs(np.arange(config.num_event_classes), config)
    one_hot = not stepper.embedding and np.array_equal(events, np.eye(len(events)))
    if one_hot and _plain_cells(stepper):
        return GatheredCells(stepper, control_width)
    return KerasCells(stepper)
