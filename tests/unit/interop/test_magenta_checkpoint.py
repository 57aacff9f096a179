"""Reading Magenta's TF1 checkpoints: a bundle's V1 file, a training folder's newest V2 files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musicgen.interop.errors import MagentaModelError
from musicgen.interop.magenta_bundle import read_bundle
from musicgen.interop.magenta_checkpoint import (
    folder_checkpoint_variables,
    metagraph_input_width,
    v1_checkpoint_variables,
)
from musicgen.interop.magenta_import import import_magenta, read_source
from tests.unit.interop.conftest import bundles_dir, manifest_entry


def write_training_folder(folder: Path, variables: dict[str, np.ndarray], steps: list[int]) -> None:
    """A folder as ``performance_rnn_train`` leaves it: V2 checkpoints with Adam slots, the
    step counter and TF's ``checkpoint`` file (naming an absolute path of another machine)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        made = {}
        for name, value in variables.items():
            for suffix in ("", "/Adam", "/Adam_1"):
                made[name + suffix] = v1.Variable(value, name=name + suffix)
        v1.train.create_global_step()
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            for step in steps:
                saver.save(session, str(folder / "model.ckpt"), global_step=step)
    state = (folder / "checkpoint").read_text()
    (folder / "checkpoint").write_text(state.replace(str(folder), "/home/someone/train"))


def test_bundle_checkpoint_variables_match_the_manifest() -> None:
    entry = manifest_entry("density_conditioned_performance_with_dynamics_3x64")
    bundle = read_bundle(str(bundles_dir() / entry["bundle"]["file"]))
    variables = v1_checkpoint_variables(bundle.checkpoint, bundle.uri)
    assert [[n, list(v.shape)] for n, v in variables.items()] == entry["variables"]
    assert metagraph_input_width(bundle.metagraph) == entry["input_size"] == 396


def test_corrupt_checkpoint_bytes_are_named() -> None:
    bundle = read_bundle(str(bundles_dir() / "performance_with_dynamics_1x96.mag"))
    with pytest.raises(MagentaModelError, match="corrupt-checkpoint"):
        v1_checkpoint_variables(bundle.checkpoint[: len(bundle.checkpoint) // 2], "x.mag")


def test_training_folder_reads_the_newest_checkpoint_and_imports(tmp_path: Path) -> None:
    bundle = read_bundle(str(bundles_dir() / "performance_with_dynamics_1x96.mag"))
    variables = v1_checkpoint_variables(bundle.checkpoint, bundle.uri)
    folder = tmp_path / "train"
    folder.mkdir()
    write_training_folder(folder, variables, [10, 20])
    prefix, found = folder_checkpoint_variables(str(folder))
    assert prefix == f"{folder}/model.ckpt-20"
    assert "fully_connected/weights/Adam" in found
    source = read_source(str(folder), "performance_with_dynamics")
    assert source.kind == "checkpoint"
    assert source.weights.layer_sizes == (96,)
    with pytest.raises(MagentaModelError, match="config-required"):
        read_source(str(folder))
    report = import_magenta(str(folder), str(tmp_path / "run"), "performance_with_dynamics")
    assert report.source == prefix


def test_a_folder_without_checkpoints_is_named(tmp_path: Path) -> None:
    with pytest.raises(MagentaModelError, match="no-checkpoint"):
        read_source(str(tmp_path), "performance")
