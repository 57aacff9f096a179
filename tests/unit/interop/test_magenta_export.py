"""Export to a GeneratorBundle: the graph Magenta's loader looks up, and the weights round trip.

``load_like_magenta`` does what Magenta's ``initialize_with_checkpoint_and_metagraph`` and
``_generate_step_for_batch`` do (import_meta_graph, restore, feed by collection), so CI checks
the bundle without Magenta; ``tools/magenta_export_proof.py`` runs Magenta's own code on it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from musicgen.encodings import performance as perf
from musicgen.generate.loaded_run import load_run
from musicgen.interop.errors import MagentaModelError
from musicgen.interop.magenta_bundle import parse_bundle, read_bundle
from musicgen.interop.magenta_export import bundle_of, export_magenta, magenta_weights_of
from musicgen.interop.magenta_import import import_magenta
from tests.unit.interop.conftest import bundles_dir, manifest_entry

DENSITY = "density_conditioned_performance_with_dynamics_3x64"


def load_like_magenta(data: bytes, rows: np.ndarray, stepwise: bool = False) -> np.ndarray:
    """Softmax ``[T, C]`` of the bundle's graph on input rows, zero state, temperature 1."""
    import tensorflow as tf

    v1 = tf.compat.v1
    bundle = parse_bundle(data, "exported.mag")
    with tempfile.TemporaryDirectory() as tmp, tf.Graph().as_default() as graph:
        ckpt = Path(tmp) / "model.ckpt"
        ckpt.write_bytes(bundle.checkpoint)
        ckpt.with_name("model.ckpt.meta").write_bytes(bundle.metagraph)
        with v1.Session(graph=graph) as session:
            v1.train.import_meta_graph(str(ckpt) + ".meta").restore(session, str(ckpt))
            inputs = graph.get_collection("inputs")[0]
            initial = graph.get_collection("initial_state")
            final = graph.get_collection("final_state")
            softmax = graph.get_collection("softmax")[0]
            temperature = graph.get_collection("temperature")[0]
            assert int(inputs.shape[0]) == 1  # Magenta's _batch_size() reads it
            state = session.run(initial)

            def run(x: np.ndarray, s: Any) -> Any:
                feed = {inputs: x[None], tuple(initial): tuple(s), temperature: 1.0}
                return session.run([final, softmax], feed)

            if not stepwise:
                return np.asarray(run(rows, state)[1][0])
            out = []
            for row in rows:
                state, sm = run(row[None], state)
                out.append(sm[0, -1])
            return np.stack(out)


@pytest.fixture(scope="module")
def density_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("density") / "run"
    import_magenta(str(bundles_dir() / f"{DENSITY}.mag"), str(run))
    return run


def test_exported_bundle_gives_magentas_softmax_and_imports_back_identically(
    density_run: Path, tmp_path: Path
) -> None:
    entry = manifest_entry(DENSITY)
    out = tmp_path / "out.mag"
    report = export_magenta(str(density_run), str(out))
    assert report.generator_id == entry["generator_id"]
    assert report.rnn_layer_sizes == [64, 64, 64]
    bundle = read_bundle(str(out))
    assert bundle.generator_description == entry["generator_description"]
    assert str(density_run) in bundle.bundle_description  # provenance: which run, which source

    folder = bundles_dir()
    ids = np.load(folder / entry["events"]["file"])
    config = load_run(str(density_run)).model.performance_config
    rows = np.concatenate(
        [np.load(folder / entry["controls"]["file"]), perf.event_inputs(ids, config)], axis=1
    ).astype(np.float32)
    expected = np.load(folder / entry["softmax"]["file"])
    assert np.max(np.abs(load_like_magenta(out.read_bytes(), rows) - expected)) <= 1e-5
    stepwise = load_like_magenta(out.read_bytes(), rows[:40], stepwise=True)
    assert np.max(np.abs(stepwise - expected[:40])) <= 1e-5

    again = import_magenta(str(out), str(tmp_path / "again"))
    assert again.variable_scheme == "basic_lstm_cell"
    before = load_run(str(density_run)).model.get_weights()
    after = load_run(str(tmp_path / "again")).model.get_weights()
    assert len(before) == len(after)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


def small_model(config: str, **kw: Any) -> Any:
    import keras

    from musicgen.models.performance_rnn import PerformanceRNN

    keras.utils.set_random_seed(3)
    model = PerformanceRNN(config, layers=(12, 10), **kw)
    for weight in model.weights:  # non-zero biases too, so a misplaced one shows
        weight.assign(np.random.default_rng(weight.shape[-1]).normal(0, 0.3, weight.shape))
    return model


@pytest.mark.parametrize(
    ("config", "input_mode", "generator_id"),
    [
        ("performance_with_dynamics", "embedding", "performance_with_dynamics"),
        ("performance_with_dynamics_compact", "one_hot", "performance_with_dynamics"),
        ("optional_multiconditioned_performance_with_dynamics", "one_hot", None),
    ],
)
def test_models_magenta_cannot_hold_as_such_are_exported_as_equivalent_graphs(
    config: str, input_mode: str, generator_id: str | None
) -> None:
    model = small_model(config, input_mode=input_mode, embedding_dim=6)
    weights, exported_id, notes = magenta_weights_of(model)
    assert exported_id == (generator_id or config)
    assert bool(notes) == (generator_id is not None)
    ids = np.random.default_rng(0).integers(0, 388, 30)
    cfg = model.performance_config
    if input_mode == "embedding":
        ours_in: np.ndarray = ids[None].astype(np.int32)
    elif cfg.controls:
        controls = np.random.default_rng(1).random((len(ids), cfg.control_size))
        ours_in = np.concatenate([controls, perf.event_inputs(ids, cfg)], axis=1)[None]
    else:
        ours_in = perf.event_inputs(ids, cfg)[None]
    fed = ours_in if input_mode == "embedding" else ours_in.astype(np.float32)
    logits = np.asarray(model(fed, training=False))[0]
    ours = np.exp(logits - logits.max(-1, keepdims=True))
    ours /= ours.sum(-1, keepdims=True)
    magenta_rows = ours_in[0] if cfg.controls else np.eye(388)[ids]
    theirs = load_like_magenta(
        bundle_of(weights, exported_id, "t"), magenta_rows.astype(np.float32)
    )
    assert np.max(np.abs(ours - theirs)) <= 1e-5


def test_the_note_encoding_is_refused_with_the_reason() -> None:
    model = small_model("performance_with_dynamics_and_note_encoding")
    with pytest.raises(MagentaModelError, match="not-exportable: the note encoding"):
        magenta_weights_of(model)
