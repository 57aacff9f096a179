"""``train --init-from RUN``: fine-tuning starts from another run's weights (trained or imported).

The source run decides the model (its weights fix the architecture), and its encoding must be
the dataset's: the same PerformanceRNN config (or piano-roll layout), checked by name, input
width and classes, never by ``config_hash``, which also covers format, splits and augmentation
that do not change what a weight means. Only the weights are taken: the optimizer starts fresh,
at step 0, as a new run. A run that already has checkpoints resumes from them instead.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musicgen import storage
from musicgen.errors import ConfigError, InputError, ObjectNotFound
from musicgen.storage import layout
from musicgen.train.config import TrainConfig

if TYPE_CHECKING:
    import keras

    from musicgen.examples.encoding_info import EncodingInfo

log = logging.getLogger(__name__)


def _encoding(uri: str, what: str) -> EncodingInfo:
    from musicgen.examples.encoding_info import read_encoding_info

    try:
        return read_encoding_info(uri)
    except (ObjectNotFound, InputError) as exc:
        raise ConfigError(f"train: {what} has no usable {layout.ENCODING}: {exc}") from exc


def _describe(info: EncodingInfo) -> str:
    return f"{info.name!r} (inputs {info.input_size}, classes {info.num_classes})"


def resolve_init_from(cfg: TrainConfig) -> TrainConfig:
    """The config with ``init_from`` made absolute and ``model`` set to the source run's.

    Raises:
        ConfigError: No run at ``init_from``, or its encoding is not the dataset's (names both).
    """
    from musicgen.train.run_dir import load_config

    if not cfg.init_from:
        return cfg
    source = storage.absolute(cfg.init_from).rstrip("/")
    run = layout.RunDir(source)
    try:
        source_cfg = load_config(run.config)
    except ObjectNotFound as exc:
        raise ConfigError(f"train: --init-from {source}: no run there ({exc})") from exc
    try:
        ours = _encoding(source, f"--init-from {source}")
    except ConfigError:
        # Runs trained before runs carried a copy of encoding.json: their dataset's, if still there.
        ours = _encoding(source_cfg.data.dataset, f"--init-from {source}'s dataset")
    theirs = _encoding(cfg.data.dataset, f"dataset {cfg.data.dataset}")
    same = (ours.name, ours.input_size, ours.num_classes) == (
        theirs.name, theirs.input_size, theirs.num_classes,
    )  # fmt: skip
    if not same:
        raise ConfigError(
            f"train: --init-from {source} was trained on encoding {_describe(ours)}, but dataset "
            f"{cfg.data.dataset} is encoded as {_describe(theirs)}; fine-tune on examples made "
            f"with `musicgen examples --encoding {ours.name}`"
        )
    if cfg.model != source_cfg.model:
        log.info("--init-from %s: using its model %s", source, source_cfg.model.applicable())
    return dataclasses.replace(cfg, init_from=source, model=source_cfg.model)


def load_initial_weights(model: keras.Model, init_from: str, custom_objects: Any) -> str:
    """Assigns the source run's weights (``model.keras``, else its newest checkpoint) in order.

    Returns:
        The model file read.

    Raises:
        ConfigError: The source has no model, or its weights do not fit (names the file).
    """
    import keras

    from musicgen.train import checkpoints

    run = layout.RunDir(init_from)
    model_file = run.model
    if not storage.exists(model_file):
        latest = checkpoints.latest_checkpoint(run.checkpoints)
        if latest is None:
            raise ConfigError(f"train: --init-from {init_from} has no {layout.MODEL} or checkpoint")
        model_file = latest.model_uri
    with tempfile.TemporaryDirectory(prefix="musicgen-init-") as tmp:
        local = Path(tmp) / layout.MODEL
        local.write_bytes(storage.read_bytes(model_file))
        source = keras.saving.load_model(local, custom_objects=dict(custom_objects), compile=False)
    targets, values = model.weights, source.weights
    if len(targets) != len(values):
        raise ConfigError(
            f"train: {model_file} has {len(values)} weights, the model {len(targets)}"
        )
    for target, value in zip(targets, values, strict=True):
        if tuple(target.shape) != tuple(value.shape):
            raise ConfigError(
                f"train: {model_file}: {target.path} has shape {tuple(target.shape)}, the "
                f"source {tuple(value.shape)}"
            )
        target.assign(value.numpy())
    return model_file
