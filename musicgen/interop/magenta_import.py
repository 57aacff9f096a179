"""A Magenta PerformanceRNN (bundle or TF1 checkpoint folder) -> a musicgen run directory.

The run directory is an ordinary one (``config.resolved.yaml``, ``model.keras``,
``encoding.json``), so ``musicgen generate --run`` and ``musicgen train --init-from`` take it
as they take a trained run; ``magenta.json`` beside them records where it came from. Layer sizes
and the config come from the bundle itself (see :mod:`musicgen.interop.magenta_weights`); the
import is checked by running the new Keras model against a NumPy pass of Magenta's own maths
before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from musicgen import __version__, storage
from musicgen.encodings.performance_configs import Encoding, PerformanceConfig
from musicgen.errors import ObjectNotFound
from musicgen.interop.errors import MagentaModelError
from musicgen.interop.magenta_weights import MagentaWeights
from musicgen.storage import layout

log = logging.getLogger(__name__)

# An import is refused if the Keras model and Magenta's maths disagree by more than this on the
# self-check's logits (float32 vs float64; real mistakes are 1e-2 and up).
SELF_CHECK_TOLERANCE = 1e-3
SELF_CHECK_EVENTS = 64


@dataclass(frozen=True)
class MagentaSource:
    """A Magenta model as read, before it becomes a run.

    Attributes:
        uri: The bundle file, or the checkpoint prefix inside a training folder.
        kind: ``bundle`` or ``checkpoint``.
        sha256: Of the bundle file; of the checkpoint's files, in name order, for a folder.
        generator_id: The bundle's generator id, or ``--config`` for a folder.
        generator_description: The bundle's generator description ("" for a folder).
        bundle_description: The bundle's own description ("" for a folder).
        config: The PerformanceRNN config the weights were checked against.
        weights: The weights, in Magenta's layout.
        variables: Every checkpoint variable's name and shape.
    """

    uri: str
    kind: str
    sha256: str
    generator_id: str
    generator_description: str
    bundle_description: str
    config: PerformanceConfig
    weights: MagentaWeights
    variables: dict[str, list[int]]


@dataclass(frozen=True)
class ImportReport:
    """What ``import-magenta`` did."""

    run_dir: str
    source: str
    config: str
    rnn_layer_sizes: list[int]
    num_parameters: int
    variable_scheme: str
    forget_bias: float
    self_check_max_abs_logit_diff: float

    def summary(self) -> str:
        sizes = "x".join(str(s) for s in self.rnn_layer_sizes)
        return (
            f"imported {self.source} ({self.config}, LSTM {sizes}, {self.num_parameters:,} "
            f"parameters, {self.variable_scheme} variables) -> {self.run_dir}; self-check max "
            f"|logit diff| {self.self_check_max_abs_logit_diff:.1e}"
        )


def _is_folder(uri: str) -> bool:
    if storage.is_gcs(uri):
        try:
            storage.read_bytes(uri)
        except ObjectNotFound:
            return storage.exists(uri)
        return False
    return Path(uri).is_dir()


def read_source(uri: str, config_name: str | None = None) -> MagentaSource:
    """Reads a bundle (a file) or the newest checkpoint of a training folder (needs a config).

    Args:
        uri: A ``.mag`` file or a Magenta training folder (``train/`` with ``model.ckpt-*``),
            local or gs://.
        config_name: Magenta's ``--config``: required for a folder; for a bundle it overrides
            the generator id (and is checked against the weights just the same).

    Raises:
        MagentaModelError: Unreadable, truncated, another model, or an unknown config.
    """
    from musicgen.interop import magenta_bundle, magenta_checkpoint, magenta_weights

    if _is_folder(uri):
        if not config_name:
            raise MagentaModelError(
                uri, "config-required",
                "a checkpoint folder does not say its config: give --config (e.g. "
                "performance_with_dynamics)",
            )  # fmt: skip
        prefix, variables = magenta_checkpoint.folder_checkpoint_variables(uri)
        digest = _folder_digest(prefix)
        generator_id, descriptions, width = config_name, ("", ""), None
        source_uri, kind = prefix, "checkpoint"
    else:
        bundle = magenta_bundle.read_bundle(uri)
        variables = magenta_checkpoint.v1_checkpoint_variables(bundle.checkpoint, uri)
        digest = bundle.sha256
        generator_id = config_name or bundle.generator_id
        descriptions = (bundle.generator_description, bundle.bundle_description)
        width = magenta_checkpoint.metagraph_input_width(bundle.metagraph)
        source_uri, kind = uri, "bundle"
    weights = magenta_weights.parse_variables(variables, source_uri)
    config = magenta_weights.infer_config(weights, generator_id, source_uri, width)
    return MagentaSource(
        uri=source_uri,
        kind=kind,
        sha256=digest,
        generator_id=generator_id,
        generator_description=descriptions[0],
        bundle_description=descriptions[1],
        config=config,
        weights=weights,
        variables={name: list(np.shape(value)) for name, value in sorted(variables.items())},
    )


def _folder_digest(prefix: str) -> str:
    folder, name = prefix.rsplit("/", 1)
    digest = hashlib.sha256()
    for info in storage.list_files(folder, recursive=False):
        base = storage.basename(info.uri)
        if base == f"{name}.index" or base.startswith(f"{name}.data-"):
            digest.update(storage.read_bytes(info.uri))
    return digest.hexdigest()


def build_model(weights: MagentaWeights, config: PerformanceConfig) -> Any:
    """Our float32 PerformanceRNN for ``config`` holding ``weights``."""
    import keras

    from musicgen.interop.magenta_weights import to_keras
    from musicgen.models.performance_rnn import PerformanceRNN

    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")  # imported weights are float32 maths
    try:
        model = PerformanceRNN(
            config.name, layers=weights.layer_sizes, input_mode="one_hot", name="performance_rnn"
        )
    finally:
        keras.mixed_precision.set_global_policy(policy)
    lstm_weights, dense = to_keras(weights)
    for index, layer_weights in enumerate(lstm_weights):
        model.get_layer(f"lstm_{index}").set_weights(layer_weights)
    model.get_layer("logits").set_weights(dense)
    return model


def self_check(model: Any, weights: MagentaWeights, config: PerformanceConfig) -> float:
    """Max |logit difference| between ``model`` and Magenta's maths on random input rows."""
    from musicgen.interop.magenta_weights import reference_logits

    rng = np.random.default_rng(0)
    if config.encoding is Encoding.COMPACT:
        ids = rng.integers(0, config.num_event_classes, SELF_CHECK_EVENTS)
        fed = ids.astype(np.float32)[:, None]
        graph_rows = np.eye(config.num_event_classes, dtype=np.float32)[ids]
    else:
        fed = rng.random((SELF_CHECK_EVENTS, config.input_size)).astype(np.float32)
        graph_rows = fed
    ours = np.asarray(model(fed[None], training=False))[0]
    return float(np.max(np.abs(ours - reference_logits(weights, graph_rows))))


def train_config(source: MagentaSource, run_uri: str) -> Any:
    """The run's ``TrainConfig``: the model it holds. Its data is Magenta's, unknown to us: the
    dataset names the source, so generation's memorization check finds no shards and skips."""
    from musicgen.train.config import DataConfig, TrainConfig, model_config

    parts = run_uri.rstrip("/").rsplit("/", 2)
    return TrainConfig(
        model=model_config(
            family="performance_rnn", layers=source.weights.layer_sizes, input_mode="one_hot"
        ),
        data=DataConfig(dataset=source.uri),
        runs_dir=parts[0] if len(parts) == 3 else ".",
        run_id=parts[-1],
    )


def provenance(source: MagentaSource, check: float) -> dict[str, Any]:
    """``magenta.json``."""
    weights = source.weights
    return {
        "source": source.uri,
        "kind": source.kind,
        "sha256": source.sha256,
        "generator_id": source.generator_id,
        "generator_description": source.generator_description,
        "bundle_description": source.bundle_description,
        "config": source.config.name,
        "rnn_layer_sizes": list(weights.layer_sizes),
        "input_size": weights.input_size,
        "num_classes": weights.num_logits,
        "num_parameters": weights.num_parameters,
        "variable_scheme": weights.scheme.name,
        "forget_bias_folded": weights.scheme.forget_bias,
        "variables": source.variables,
        "self_check_max_abs_logit_diff": check,
        "musicgen_version": __version__,
    }


def _check_target(run: layout.RunDir) -> None:
    """Refuses to overwrite a trained run; an earlier import may be redone (same bytes)."""
    if storage.exists(run.config) and not storage.exists(run.magenta):
        raise MagentaModelError(
            run.uri, "run-exists",
            f"{run.config} belongs to a trained run; import into a new folder",
        )  # fmt: skip


def import_magenta(uri: str, run_dir: str, config_name: str | None = None) -> ImportReport:
    """Imports the bundle or checkpoint folder at ``uri`` as the run directory ``run_dir``.

    Raises:
        MagentaModelError: See :func:`read_source`; the run dir holds a trained run
            (``run-exists``); or the self-check failed (``self-check``).
    """
    from musicgen.examples.encoding_info import EncodingInfo, write_encoding_info
    from musicgen.train.run_dir import config_yaml

    run = layout.RunDir(storage.absolute(run_dir).rstrip("/"))
    _check_target(run)
    source = read_source(storage.absolute(uri), config_name)
    model = build_model(source.weights, source.config)
    check = self_check(model, source.weights, source.config)
    if not check <= SELF_CHECK_TOLERANCE:
        raise MagentaModelError(
            source.uri, "self-check",
            f"the imported model's logits differ from Magenta's maths by {check:.2e}",
        )  # fmt: skip
    info = EncodingInfo.for_performance(source.config, format="magenta")
    # magenta.json first: it marks the folder as an import, which a rerun may redo.
    storage.write_text(run.magenta, json.dumps(provenance(source, check), indent=2) + "\n")
    with tempfile.TemporaryDirectory(prefix="musicgen-import-") as tmp:
        local = Path(tmp) / layout.MODEL
        model.save(local)
        storage.upload_file(str(local), run.model)
    write_encoding_info(run.uri, info)
    storage.write_text(run.config, config_yaml(train_config(source, run.uri)))
    report = ImportReport(
        run_dir=run.uri,
        source=source.uri,
        config=source.config.name,
        rnn_layer_sizes=list(source.weights.layer_sizes),
        num_parameters=source.weights.num_parameters,
        variable_scheme=source.weights.scheme.name,
        forget_bias=source.weights.scheme.forget_bias,
        self_check_max_abs_logit_diff=check,
    )
    log.debug("%s", json.dumps(asdict(report)))
    return report
