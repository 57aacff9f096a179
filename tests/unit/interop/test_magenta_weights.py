"""Magenta variables <-> Keras weights, in NumPy: names of every TF era, gates, forget bias."""

from __future__ import annotations

import numpy as np
import pytest

from musicgen.encodings.performance_configs import get_config
from musicgen.interop.errors import MagentaModelError
from musicgen.interop.magenta_weights import (
    SCHEMES,
    CellScheme,
    from_keras,
    infer_config,
    parse_variables,
    reference_logits,
    to_keras,
    variables_of,
)

BASIC, OLD_TF1, OLD_TF0, CUDNN = SCHEMES


def magenta_variables(
    sizes: tuple[int, ...], input_size: int, classes: int, scheme: CellScheme = BASIC, seed: int = 0
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    rows = input_size
    for index, size in enumerate(sizes):
        out[scheme.kernel.format(l=index)] = rng.normal(0, 0.3, (rows + size, 4 * size))
        out[scheme.bias.format(l=index)] = rng.normal(0, 0.1, 4 * size)
        rows = size
    out["fully_connected/weights"] = rng.normal(0, 0.3, (rows, classes))
    out["fully_connected/biases"] = rng.normal(0, 0.1, classes)
    return {k: v.astype(np.float32) for k, v in out.items()}


def keras_logits(
    layers: list[list[np.ndarray]], dense: list[np.ndarray], x: np.ndarray
) -> np.ndarray:
    """Keras' LSTM maths (gates i, f, c, o; no run-time forget bias) in float64."""
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    hs = [np.zeros(r.shape[0]) for _, r, _ in layers]
    cs = [np.zeros(r.shape[0]) for _, r, _ in layers]
    out = []
    for row in x:
        for index, (kernel, recurrent, bias) in enumerate(layers):
            z = row @ kernel + hs[index] @ recurrent + bias
            i, f, c, o = np.split(z.astype(np.float64), 4)
            cs[index] = sig(f) * cs[index] + sig(i) * np.tanh(c)
            hs[index] = sig(o) * np.tanh(cs[index])
            row = hs[index]
        out.append(row @ dense[0] + dense[1])
    return np.stack(out)


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.name)
def test_every_variable_spelling_maps_to_the_same_keras_maths(scheme: CellScheme) -> None:
    variables = magenta_variables((6, 5), 7, 9, scheme)
    weights = parse_variables(variables, "ckpt")
    assert weights.scheme is scheme
    assert weights.layer_sizes == (6, 5)
    assert (weights.input_size, weights.num_logits) == (7, 9)
    x = np.random.default_rng(1).random((12, 7))
    layers, dense = to_keras(weights)
    np.testing.assert_allclose(keras_logits(layers, dense, x), reference_logits(weights, x),
                               atol=1e-5)  # fmt: skip


def test_cudnn_checkpoints_add_no_forget_bias() -> None:
    basic = parse_variables(magenta_variables((4,), 3, 5, BASIC), "a")
    cudnn = parse_variables(magenta_variables((4,), 3, 5, CUDNN), "b")
    # Same random numbers, different cell: Keras' forget bias differs by exactly the 1.0.
    (_, _, bias_basic), (_, _, bias_cudnn) = to_keras(basic)[0][0], to_keras(cudnn)[0][0]
    np.testing.assert_allclose(bias_basic[4:8] - bias_cudnn[4:8], 1.0, atol=1e-6)
    np.testing.assert_array_equal(bias_basic[:4], bias_cudnn[:4])


def test_gate_blocks_are_reordered_i_j_f_o_to_i_f_c_o() -> None:
    size = 2
    kernel = np.tile(np.repeat(np.arange(4, dtype=np.float32), size), (3 + size, 1))
    variables = {
        BASIC.kernel.format(l=0): kernel,
        BASIC.bias.format(l=0): np.repeat(np.arange(4, dtype=np.float32), size),
        "fully_connected/weights": np.zeros((size, 4), np.float32),
        "fully_connected/biases": np.zeros(4, np.float32),
    }
    k, r, b = to_keras(parse_variables(variables, "x"))[0][0]
    assert k.shape == (3, 4 * size)
    assert r.shape == (size, 4 * size)
    assert k[0].tolist() == [0, 0, 2, 2, 1, 1, 3, 3]  # i, f(=2), j(=1), o
    assert b.tolist() == [0, 0, 3, 3, 1, 1, 3, 3]  # forget bias 1.0 folded into f


def test_keras_weights_survive_export_and_import_bit_for_bit() -> None:
    weights = parse_variables(magenta_variables((8, 8), 5, 6), "x")
    layers, dense = to_keras(weights)
    back = from_keras(layers, dense)
    layers_again, dense_again = to_keras(back)
    before = [w for layer in layers for w in layer] + dense
    after = [w for layer in layers_again for w in layer] + dense_again
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    assert set(variables_of(back)) == set(variables_of(weights))


def test_optimizer_state_in_a_training_checkpoint_is_ignored() -> None:
    variables = magenta_variables((4,), 3, 5)
    for name in list(variables):
        variables[f"{name}/Adam"] = variables[name]
        variables[f"{name}/Adam_1"] = variables[name]
    variables |= {"global_step": np.int64(20), "beta1_power": np.float32(0.9),
                  "beta2_power": np.float32(0.99)}  # fmt: skip
    assert parse_variables(variables, "ckpt").layer_sizes == (4,)


def test_missing_and_unexpected_variables_are_named() -> None:
    variables = magenta_variables((4, 4), 3, 5)
    del variables["rnn/multi_rnn_cell/cell_1/basic_lstm_cell/bias"]
    with pytest.raises(MagentaModelError, match=r"missing-variable: rnn/multi_rnn_cell/cell_1/"):
        parse_variables(variables, "ckpt")
    variables = magenta_variables((4,), 3, 5)
    del variables["fully_connected/biases"]
    with pytest.raises(MagentaModelError, match="missing-variable: fully_connected/biases"):
        parse_variables(variables, "ckpt")
    with pytest.raises(MagentaModelError, match="no first LSTM kernel"):
        parse_variables({"fully_connected/weights": np.zeros((2, 2))}, "ckpt")
    variables = magenta_variables((4,), 3, 5)
    variables["rnn/multi_rnn_cell/cell_0/attention_cell_wrapper/attn_w"] = np.zeros(2)
    with pytest.raises(MagentaModelError, match=r"unexpected-variable: .*attention_cell_wrapper"):
        parse_variables(variables, "ckpt")


def test_shapes_that_do_not_chain_are_refused() -> None:
    variables = magenta_variables((4, 4), 3, 5)
    variables["rnn/multi_rnn_cell/cell_1/basic_lstm_cell/kernel"] = np.zeros((9, 16), np.float32)
    with pytest.raises(MagentaModelError, match="bad-shape"):
        parse_variables(variables, "ckpt")


def test_config_comes_from_the_generator_id_and_is_checked_against_the_weights() -> None:
    weights = parse_variables(magenta_variables((4,), 396, 388), "b.mag")
    config = infer_config(weights, "density_conditioned_performance_with_dynamics", "b.mag")
    assert config.control_size == 8
    with pytest.raises(MagentaModelError, match="unknown-config: generator id 'drums_rnn'"):
        infer_config(weights, "drums_rnn", "b.mag")
    with pytest.raises(MagentaModelError, match="config-mismatch: config performance_with_dyna"):
        infer_config(weights, "performance_with_dynamics", "b.mag")


def test_compact_bundles_are_told_apart_by_their_input_width() -> None:
    weights = parse_variables(magenta_variables((4,), 388, 388), "c.mag")
    assert infer_config(weights, "performance_with_dynamics", "c.mag").name == (
        "performance_with_dynamics"
    )
    compact = infer_config(weights, "performance_with_dynamics", "c.mag", input_width=1)
    assert compact == get_config("performance_with_dynamics_compact")
