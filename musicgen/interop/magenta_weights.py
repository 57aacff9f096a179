"""Magenta's PerformanceRNN variables <-> our PerformanceRNN's Keras weights (pure NumPy).

Magenta's cells are TF1 ``BasicLSTMCell`` layers in a ``MultiRNNCell``, then ``tf_slim``'s
``linear`` to the logits:

* ``kernel`` is ``[input + h, 4h]`` (rows: the layer input, then the previous ``h``) and its
  column blocks are the gates in the order (i, j, f, o), ``j`` being the candidate;
* the cell adds a constant ``forget_bias`` inside ``sigmoid(f + forget_bias)`` at run time: 1.0
  for ``BasicLSTMCell``, never stored in the checkpoint; 0.0 for the ``CudnnCompatibleLSTMCell``
  of cuDNN-trained checkpoints.

A Keras ``LSTM`` has ``kernel`` ``[input, 4h]``, ``recurrent_kernel`` ``[h, 4h]`` and ``bias``
``[4h]``, gates (i, f, c, o), and no run-time forget bias. So import splits the kernel's rows,
permutes the gate blocks (i, j, f, o) -> (i, f, j, o) (the same permutation maps back), and
folds the forget bias into the stored bias; export does the reverse and subtracts 1.0 again.
The maths is otherwise the same (``c' = f*c + i*tanh(j)``, ``h' = o*tanh(c')``), so the two
give the same softmax up to float32 rounding.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from musicgen.encodings.performance_configs import (
    CONFIGS,
    Encoding,
    PerformanceConfig,
    get_config,
)
from musicgen.interop.errors import MagentaModelError

Array = NDArray[np.float32]
GATES_TO_KERAS = (0, 2, 1, 3)  # (i, j, f, o) -> (i, f, j, o); its own inverse
FORGET_BLOCK = 1  # f's block in Keras' order
LOGITS_WEIGHTS = "fully_connected/weights"
LOGITS_BIASES = "fully_connected/biases"


@dataclass(frozen=True)
class CellScheme:
    """One spelling of the LSTM variables that some Magenta/TF version wrote.

    Attributes:
        name: How reports and provenance call it.
        kernel: The kernel's name, with ``{l}`` for the layer index.
        bias: The bias's name, likewise.
        forget_bias: The constant the cell adds to the forget gate at run time.
    """

    name: str
    kernel: str
    bias: str
    forget_bias: float


SCHEMES = (
    CellScheme(
        "basic_lstm_cell",
        "rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/kernel",
        "rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/bias",
        1.0,
    ),
    CellScheme(  # TF 1.0-1.1
        "basic_lstm_cell (weights/biases)",
        "rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/weights",
        "rnn/multi_rnn_cell/cell_{l}/basic_lstm_cell/biases",
        1.0,
    ),
    CellScheme(  # TF 0.x
        "BasicLSTMCell (Linear/Matrix)",
        "RNN/MultiRNNCell/Cell{l}/BasicLSTMCell/Linear/Matrix",
        "RNN/MultiRNNCell/Cell{l}/BasicLSTMCell/Linear/Bias",
        1.0,
    ),
    CellScheme(  # trained with use_cudnn: CudnnCompatibleLSTMCell sets forget_bias=0
        "cudnn_compatible_lstm_cell",
        "rnn/multi_rnn_cell/cell_{l}/cudnn_compatible_lstm_cell/kernel",
        "rnn/multi_rnn_cell/cell_{l}/cudnn_compatible_lstm_cell/bias",
        0.0,
    ),
)
CURRENT = SCHEMES[0]  # what export writes, and what Magenta 2.x's graph restores
# Training state that a checkpoint folder (not a bundle) also holds; the model needs none of it.
_TRAINING_STATE = re.compile(r"(^|/)(global_step|beta[12]_power(_\d+)?)$|/(Adam|Adam_1)$")


@dataclass(frozen=True)
class MagentaWeights:
    """A PerformanceRNN's weights in Magenta's layout.

    Attributes:
        scheme: The variable spelling they were read from (or are written with).
        cells: Per layer ``(kernel [in + h, 4h], bias [4h])``, gates (i, j, f, o).
        logits: ``(weights [h, C], biases [C])``.
    """

    scheme: CellScheme
    cells: tuple[tuple[Array, Array], ...]
    logits: tuple[Array, Array]

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return tuple(int(kernel.shape[1]) // 4 for kernel, _ in self.cells)

    @property
    def input_size(self) -> int:
        """Width of the first LSTM's input (after the graph's one-hot, for the compact config)."""
        return int(self.cells[0][0].shape[0]) - self.layer_sizes[0]

    @property
    def num_logits(self) -> int:
        return int(self.logits[0].shape[1])

    @property
    def num_parameters(self) -> int:
        arrays = [a for cell in self.cells for a in cell] + list(self.logits)
        return sum(int(a.size) for a in arrays)


def _f32(array: NDArray[np.generic]) -> Array:
    return np.ascontiguousarray(array, dtype=np.float32)


def parse_variables(variables: Mapping[str, NDArray[np.generic]], uri: str) -> MagentaWeights:
    """Finds the LSTM stack and the logits layer among a checkpoint's variables.

    Raises:
        MagentaModelError: A variable is missing (``missing-variable``), one is not part of a
            plain PerformanceRNN (``unexpected-variable``: attention, residual or input
            projection wrappers are not supported), or shapes do not chain (``bad-shape``).
    """
    scheme = next((s for s in SCHEMES if s.kernel.format(l=0) in variables), None)
    if scheme is None:
        names = ", ".join(s.kernel.format(l=0) for s in SCHEMES)
        found = ", ".join(sorted(variables)[:8]) or "none"
        raise MagentaModelError(
            uri, "missing-variable",
            f"no first LSTM kernel: expected one of {names}; the checkpoint has {found}",
        )  # fmt: skip
    cells: list[tuple[Array, Array]] = []
    used: set[str] = set()
    while scheme.kernel.format(l=len(cells)) in variables:
        kernel_name = scheme.kernel.format(l=len(cells))
        bias_name = scheme.bias.format(l=len(cells))
        if bias_name not in variables:
            raise MagentaModelError(uri, "missing-variable", f"{bias_name} (beside {kernel_name})")
        cells.append((_f32(variables[kernel_name]), _f32(variables[bias_name])))
        used |= {kernel_name, bias_name}
    for name in (LOGITS_WEIGHTS, LOGITS_BIASES):
        if name not in variables:
            raise MagentaModelError(uri, "missing-variable", f"{name} (the logits layer)")
    used |= {LOGITS_WEIGHTS, LOGITS_BIASES}
    extra = sorted(n for n in variables if n not in used and not _TRAINING_STATE.search(n))
    if extra:
        raise MagentaModelError(
            uri, "unexpected-variable",
            f"{', '.join(extra[:6])}: not part of a plain PerformanceRNN (attention, residual "
            "and input-projection cells are not supported)",
        )  # fmt: skip
    weights = MagentaWeights(
        scheme, tuple(cells), (_f32(variables[LOGITS_WEIGHTS]), _f32(variables[LOGITS_BIASES]))
    )
    check_shapes(weights, uri)
    return weights


def check_shapes(weights: MagentaWeights, uri: str) -> None:
    """Each layer's kernel is ``[input + h, 4h]`` with ``input`` = the previous ``h``, etc."""
    previous = None
    for index, (kernel, bias) in enumerate(weights.cells):
        name = weights.scheme.kernel.format(l=index)
        if kernel.ndim != 2 or kernel.shape[1] % 4 or bias.shape != (kernel.shape[1],):
            raise MagentaModelError(
                uri, "bad-shape", f"{name} {kernel.shape} with bias {bias.shape}: not an LSTM"
            )
        size = kernel.shape[1] // 4
        rows = kernel.shape[0] - size
        if rows < 1 or (previous is not None and rows != previous):
            raise MagentaModelError(
                uri, "bad-shape",
                f"{name} {kernel.shape}: input rows {rows}, expected the previous layer's "
                f"{previous}",
            )  # fmt: skip
        previous = size
    w, b = weights.logits
    if w.ndim != 2 or w.shape[0] != previous or b.shape != (w.shape[1],):
        raise MagentaModelError(
            uri, "bad-shape",
            f"{LOGITS_WEIGHTS} {w.shape} / {LOGITS_BIASES} {b.shape} do not follow an LSTM of "
            f"{previous} units",
        )  # fmt: skip


def lstm_input_size(config: PerformanceConfig) -> int:
    """Width of the first LSTM's input in Magenta's graph for ``config``."""
    if config.encoding is Encoding.COMPACT:
        return config.control_size + config.num_event_classes  # one-hot inside the graph
    return config.input_size


def num_logits(config: PerformanceConfig) -> int:
    classes = config.num_classes
    return classes if isinstance(classes, int) else sum(classes)


def infer_config(
    weights: MagentaWeights, generator_id: str, uri: str, input_width: int | None = None
) -> PerformanceConfig:
    """The PerformanceRNN config of a bundle: its generator id, checked against the weights.

    Args:
        weights: The bundle's weights.
        generator_id: ``generator_details.id`` (or ``--config``).
        uri: Named in errors.
        input_width: The generate graph's input width, if known: 1 marks the compact config,
            whose bundles say ``performance_with_dynamics``.

    Raises:
        MagentaModelError: Not one of Magenta's nine PerformanceRNN configs
            (``unknown-config``), or the weights do not fit it (``config-mismatch``).
    """
    if generator_id not in CONFIGS:
        raise MagentaModelError(
            uri, "unknown-config",
            f"generator id {generator_id!r} is not a PerformanceRNN config; known: "
            f"{', '.join(sorted(CONFIGS))}",
        )  # fmt: skip
    config = get_config(generator_id)
    if generator_id == "performance_with_dynamics" and input_width == 1:
        config = get_config("performance_with_dynamics_compact")
    expected = (lstm_input_size(config), num_logits(config))
    found = (weights.input_size, weights.num_logits)
    if expected != found:
        raise MagentaModelError(
            uri, "config-mismatch",
            f"config {config.name} takes inputs of {expected[0]} and predicts {expected[1]} "
            f"classes; the checkpoint's are {found[0]} and {found[1]}",
        )  # fmt: skip
    return config


def to_keras(weights: MagentaWeights) -> tuple[list[list[Array]], list[Array]]:
    """Per LSTM layer ``[kernel, recurrent_kernel, bias]``, and the Dense ``[kernel, bias]``."""
    layers = []
    for kernel, bias in weights.cells:
        size = kernel.shape[1] // 4
        rows = kernel.shape[0] - size
        gates = _permute(kernel), _permute(bias[None, :])[0].copy()
        gates[1][FORGET_BLOCK * size : (FORGET_BLOCK + 1) * size] += np.float32(
            weights.scheme.forget_bias
        )
        layers.append([_f32(gates[0][:rows]), _f32(gates[0][rows:]), _f32(gates[1])])
    return layers, [_f32(weights.logits[0]), _f32(weights.logits[1])]


def from_keras(layers: Sequence[Sequence[Array]], dense: Sequence[Array]) -> MagentaWeights:
    """The inverse of :func:`to_keras`, written with :data:`CURRENT`'s names (forget bias 1.0)."""
    cells = []
    for kernel, recurrent, bias in layers:
        size = recurrent.shape[0]
        unfolded = _f32(bias).copy()
        unfolded[FORGET_BLOCK * size : (FORGET_BLOCK + 1) * size] -= np.float32(CURRENT.forget_bias)
        stacked = np.concatenate([_f32(kernel), _f32(recurrent)], axis=0)
        cells.append((_f32(_permute(stacked)), _f32(_permute(unfolded[None, :])[0])))
    return MagentaWeights(CURRENT, tuple(cells), (_f32(dense[0]), _f32(dense[1])))


def _permute(matrix: NDArray[np.float32]) -> NDArray[np.float32]:
    """Swaps the 2nd and 3rd of the 4 gate column blocks."""
    blocks = np.split(matrix, 4, axis=1)
    return np.concatenate([blocks[i] for i in GATES_TO_KERAS], axis=1)


def variables_of(weights: MagentaWeights) -> dict[str, Array]:
    """The checkpoint variables, by name, in ``weights.scheme``'s spelling."""
    out: dict[str, Array] = {}
    for index, (kernel, bias) in enumerate(weights.cells):
        out[weights.scheme.kernel.format(l=index)] = kernel
        out[weights.scheme.bias.format(l=index)] = bias
    out[LOGITS_WEIGHTS], out[LOGITS_BIASES] = weights.logits
    return out


def reference_logits(weights: MagentaWeights, inputs: NDArray[np.floating]) -> NDArray[np.float64]:
    """Magenta's graph in float64 NumPy: ``[T, input]`` rows -> ``[T, C]`` logits.

    From the zero state, one sequence; for the compact config pass the one-hot rows. This is
    ``check_numpy_reference.py``'s pass (before the softmax, which the note encoding takes per
    head), used to check an import before it is written.
    """
    cells = [(k.astype(np.float64), b.astype(np.float64)) for k, b in weights.cells]
    h = [np.zeros(k.shape[1] // 4) for k, _ in cells]
    c = [np.zeros(k.shape[1] // 4) for k, _ in cells]
    w, b = (a.astype(np.float64) for a in weights.logits)
    forget = weights.scheme.forget_bias
    rows = []
    for x in np.asarray(inputs, np.float64):
        for index, (kernel, bias) in enumerate(cells):
            i, j, f, o = np.split(np.concatenate([x, h[index]]) @ kernel + bias, 4)
            c[index] = c[index] * _sigmoid(f + forget) + _sigmoid(i) * np.tanh(j)
            h[index] = np.tanh(c[index]) * _sigmoid(o)
            x = h[index]
        rows.append(x @ w + b)
    return np.stack(rows) if rows else np.zeros((0, w.shape[1]))


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-z))
    return out
