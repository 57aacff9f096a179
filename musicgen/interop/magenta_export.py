"""A performance_rnn run directory -> a GeneratorBundle that Magenta's own generator loads.

Magenta loads a bundle with ``tf.train.import_meta_graph`` and then only looks things up by
collection (``EventSequenceRnnModel``): ``inputs`` (a float32 placeholder ``[B, None, input]``
whose static batch size it reads), ``initial_state`` (the flattened ``(c, h)`` of every layer,
evaluated once for the zero state, then fed), ``final_state``, ``temperature`` and ``softmax``
(``[B, T, C]``). So the graph written here is built directly with ``tf.compat.v1`` ops (no Keras
2 cells, which TF 2.16+ no longer ships) that compute exactly what ``BasicLSTMCell`` computes
(concat, matmul, bias_add, split (i, j, f, o), ``sigmoid(f + 1.0)``) over a ``tf.scan``, with
the variables under Magenta's own names, so the checkpoint also restores into Magenta's graph
built from its config (``--run_dir``/``--checkpoint_file``). The checkpoint is a single-file
V1 checkpoint plus metagraph, as ``write_checkpoint_with_metagraph`` saves them.

What cannot be carried over exactly, and what is done instead:

* ``performance_with_dynamics_compact``: Magenta's bundles of it say ``performance_with_dynamics``
  and Magenta's generator then feeds one-hot rows, which its index graph cannot take. The
  weights are those of the one-hot config, so it is exported as ``performance_with_dynamics``.
* ``input_mode: embedding``: the embedding is folded into the first kernel (one-hot @ E @ K =
  E[id] @ K), an exact identity up to float32 rounding; not possible for the modulo encoding.
* the note encoding: Magenta's graph puts a Python list of six softmaxes in one collection
  entry, which a MetaGraphDef cannot hold, so no bundle of it loads in Magenta either; refused.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from musicgen import __version__, storage
from musicgen.encodings.performance_configs import Encoding, PerformanceConfig, get_config
from musicgen.errors import ObjectNotFound
from musicgen.interop.errors import MagentaModelError
from musicgen.interop.magenta_weights import CURRENT, MagentaWeights, from_keras
from musicgen.storage import layout

# generator_details.description of each config, as in Magenta's performance_model.py.
DESCRIPTIONS = {
    "performance": "Performance RNN",
    "performance_with_dynamics": "Performance RNN with dynamics",
    "performance_with_dynamics_and_modulo_encoding": (
        "Performance RNN with dynamics and modulo encoding"
    ),
    "density_conditioned_performance_with_dynamics": (
        "Note-density-conditioned Performance RNN + dynamics"
    ),
    "pitch_conditioned_performance_with_dynamics": "Pitch-histogram-conditioned Performance RNN",
    "multiconditioned_performance_with_dynamics": "Density- and pitch-conditioned Performance RNN",
    "optional_multiconditioned_performance_with_dynamics": (
        "Optionally multiconditioned Performance RNN"
    ),
}


@dataclass(frozen=True)
class ExportReport:
    """What ``export-magenta`` wrote."""

    out: str
    generator_id: str
    rnn_layer_sizes: list[int]
    input_size: int
    num_classes: int
    bytes: int
    sha256: str
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        sizes = "x".join(str(s) for s in self.rnn_layer_sizes)
        extra = f" ({'; '.join(self.notes)})" if self.notes else ""
        return (
            f"wrote {self.out}: {self.generator_id}, LSTM {sizes}, {self.bytes:,} bytes, "
            f"sha256 {self.sha256[:16]}{extra}"
        )


def magenta_weights_of(model: Any) -> tuple[MagentaWeights, str, list[str]]:
    """The model's weights in Magenta's layout, the generator id, and what was adapted.

    Raises:
        MagentaModelError: A model Magenta's bundles cannot express (see the module docstring).
    """
    config: PerformanceConfig = model.performance_config
    uri = f"model {model.name} ({config.name})"
    notes: list[str] = []
    if config.encoding is Encoding.NOTE:
        raise MagentaModelError(
            uri, "not-exportable",
            "the note encoding's six softmaxes are one Python list in Magenta's graph, which "
            "a bundle's MetaGraphDef cannot hold (Magenta cannot load such a bundle either)",
        )  # fmt: skip
    lstms = [layer for layer in model.layers if layer.name.startswith("lstm_")]
    layers = [[np.asarray(w) for w in layer.get_weights()] for layer in lstms]
    if model.input_mode == "embedding":
        if config.encoding is Encoding.MODULO:
            raise MagentaModelError(
                uri, "not-exportable",
                "an embedding model of the modulo config reads ids; Magenta feeds it modulo "
                "rows, which no kernel maps onto the embedding",
            )  # fmt: skip
        table = np.asarray(model.get_layer("embedding").get_weights()[0], np.float64)
        layers[0][0] = (table @ layers[0][0].astype(np.float64)).astype(np.float32)
        notes.append("embedding folded into the first kernel (equal up to float32 rounding)")
    generator_id = config.name
    if config.encoding is Encoding.COMPACT:
        generator_id = "performance_with_dynamics"
        notes.append("compact config exported as performance_with_dynamics (one-hot inputs)")
    dense = [np.asarray(w) for w in model.get_layer("logits").get_weights()]
    return from_keras(layers, dense), generator_id, notes


def _lstm_step(x: Any, c: Any, h: Any, kernel: Any, bias: Any) -> tuple[Any, Any]:
    """``BasicLSTMCell.call``, op for op."""
    import tensorflow as tf

    gates = tf.nn.bias_add(tf.matmul(tf.concat([x, h], 1), kernel), bias)
    i, j, f, o = tf.split(gates, num_or_size_splits=4, axis=1)
    forget_bias = tf.constant(CURRENT.forget_bias, dtype=f.dtype)
    new_c = tf.add(
        tf.multiply(c, tf.sigmoid(tf.add(f, forget_bias))), tf.multiply(tf.sigmoid(i), tf.tanh(j))
    )
    new_h = tf.multiply(tf.tanh(new_c), tf.sigmoid(o))
    return new_c, new_h


def _variable(scope: tuple[str, ...], name: str, value: np.ndarray) -> Any:
    import tensorflow as tf

    v1 = tf.compat.v1

    def nest(parts: tuple[str, ...]) -> Any:
        if not parts:
            return v1.get_variable(
                name, shape=value.shape, dtype=tf.float32, initializer=v1.zeros_initializer()
            )
        with v1.variable_scope(parts[0]):
            return nest(parts[1:])

    return nest(scope)


def generate_graph_files(weights: MagentaWeights, batch_size: int, folder: Path) -> Path:
    """Writes ``model.ckpt`` (V1) and ``model.ckpt.meta`` into ``folder``; returns the first."""
    import tensorflow as tf

    v1 = tf.compat.v1
    sizes = weights.layer_sizes
    num_classes = weights.num_logits
    graph = tf.Graph()
    with graph.as_default():
        inputs = v1.placeholder(tf.float32, [batch_size, None, weights.input_size])
        temperature = v1.placeholder(tf.float32, [])
        cells, loads = [], []
        for index, (kernel, bias) in enumerate(weights.cells):
            scope = ("rnn", "multi_rnn_cell", f"cell_{index}", "basic_lstm_cell")
            k = _variable(scope, "kernel", kernel)
            b = _variable(scope, "bias", bias)
            cells.append((k, b))
            loads += [(k, kernel), (b, bias)]
        w = _variable(("fully_connected",), "weights", weights.logits[0])
        b_out = _variable(("fully_connected",), "biases", weights.logits[1])
        loads += [(w, weights.logits[0]), (b_out, weights.logits[1])]
        initial_state = []
        for size in sizes:  # MultiRNNCell's flattened zero state: (c, h) per layer
            initial_state += [tf.zeros([batch_size, size]), tf.zeros([batch_size, size])]

        def step(state: tuple[Any, ...], x: Any) -> tuple[Any, ...]:
            new: list[Any] = []
            for index, (kernel_var, bias_var) in enumerate(cells):
                c, h = _lstm_step(x, state[2 * index], state[2 * index + 1], kernel_var, bias_var)
                new += [c, h]
                x = h
            return tuple(new)

        states = tf.scan(step, tf.transpose(inputs, [1, 0, 2]), initializer=tuple(initial_state))
        final_state = [s[-1] for s in states]
        outputs = tf.transpose(states[-1], [1, 0, 2])  # the top layer's h, [B, T, h]
        flat = tf.reshape(outputs, [-1, sizes[-1]])
        logits = tf.nn.bias_add(tf.matmul(flat, w), b_out)
        softmax_flat = tf.nn.softmax(tf.divide(logits, tf.fill([num_classes], temperature)))
        softmax = tf.reshape(softmax_flat, [batch_size, -1, num_classes])
        v1.add_to_collection("inputs", inputs)
        v1.add_to_collection("temperature", temperature)
        v1.add_to_collection("softmax", softmax)
        for tensor in initial_state:
            v1.add_to_collection("initial_state", tensor)
        for tensor in final_state:
            v1.add_to_collection("final_state", tensor)
        saver = v1.train.Saver(sharded=False, write_version=v1.train.SaverDef.V1)
        with v1.Session(graph=graph) as session:
            for variable, value in loads:
                # Feeds the initializer instead of baking the values into the graph as constants:
                # the metagraph stays small, as Magenta's is.
                session.run(variable.initializer, {variable.initial_value: value})
            path = folder / "model.ckpt"
            saver.save(session, str(path), meta_graph_suffix="meta", write_meta_graph=True)
    return path


def bundle_of(
    weights: MagentaWeights,
    generator_id: str,
    description: str,
    batch_size: int = 1,
) -> bytes:
    """The serialized GeneratorBundle of ``weights`` (see the module docstring)."""
    from musicgen.interop.magenta_bundle import bundle_bytes

    with tempfile.TemporaryDirectory(prefix="musicgen-export-") as tmp:
        path = generate_graph_files(weights, batch_size, Path(tmp))
        checkpoint = path.read_bytes()
        metagraph = path.with_name(path.name + ".meta").read_bytes()
    return bundle_bytes(
        generator_id, DESCRIPTIONS[generator_id], description, checkpoint, metagraph
    )


def _default_description(run_uri: str) -> str:
    text = f"musicgen {__version__} export-magenta of {run_uri}"
    try:
        source = json.loads(storage.read_bytes(layout.RunDir(run_uri).magenta))
    except (ObjectNotFound, ValueError):  # a trained run has no magenta.json
        return text
    return f"{text} (imported from {source.get('source')}, sha256 {source.get('sha256')})"


def export_magenta(
    run_dir: str, out: str, *, description: str | None = None, batch_size: int = 1
) -> ExportReport:
    """Writes the run's model as a GeneratorBundle at ``out`` (local or gs://).

    Raises:
        ConfigError: No run there (names the path), or not a performance_rnn run.
        MagentaModelError: A model Magenta's bundles cannot express.
    """
    from musicgen.errors import ConfigError
    from musicgen.generate.loaded_run import load_run

    if batch_size < 1:
        raise ConfigError(f"export-magenta: batch size must be >= 1, got {batch_size}")
    run = load_run(storage.absolute(run_dir))
    if run.family != "performance_rnn":
        raise ConfigError(
            f"export-magenta: {run.uri} is a {run.family} run; Magenta bundles hold PerformanceRNN"
        )
    weights, generator_id, notes = magenta_weights_of(run.model)
    get_config(generator_id)  # one of Magenta's configs by construction
    data = bundle_of(weights, generator_id, description or _default_description(run.uri),
                     batch_size)  # fmt: skip
    storage.write_bytes(out, data)
    return ExportReport(
        out=out,
        generator_id=generator_id,
        rnn_layer_sizes=list(weights.layer_sizes),
        input_size=weights.input_size,
        num_classes=weights.num_logits,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        notes=notes,
    )
