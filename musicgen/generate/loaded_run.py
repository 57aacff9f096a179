"""A trained run, loaded for generation: its config, its dataset's encoding and its model."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from musicgen import storage
from musicgen.errors import ConfigError, ObjectNotFound
from musicgen.examples.encoding_info import EncodingInfo, read_encoding_info
from musicgen.storage import layout
from musicgen.train.config import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class LoadedRun:
    """What generation needs from a run directory."""

    uri: str
    config: TrainConfig
    info: EncodingInfo
    model: Any
    model_file: str

    @property
    def family(self) -> str:
        return self.config.model.family


def _encoding_info(run_uri: str, dataset: str) -> EncodingInfo:
    """The run's own copy of its dataset's ``encoding.json``; runs trained before runs carried
    one fall back to the dataset's."""
    try:
        return read_encoding_info(run_uri)
    except ObjectNotFound:
        pass
    try:
        info = read_encoding_info(dataset)
    except ObjectNotFound as exc:
        raise ConfigError(
            f"generate: {run_uri} has no {layout.ENCODING}, and its dataset {dataset} has none "
            f"either ({exc})"
        ) from exc
    log.warning("%s has no %s (trained by an older musicgen); read %s's", run_uri,
                layout.ENCODING, dataset)  # fmt: skip
    return info


def load_run(uri: str) -> LoadedRun:
    """Rebuilds the model of the run at ``uri`` from its own files.

    Uses ``model.keras`` (written when training finished) or else the newest checkpoint.

    Raises:
        ConfigError: No such run, or it has no model or checkpoint yet (names the path).
    """
    import keras

    from musicgen.models.registry import get_family
    from musicgen.train import checkpoints
    from musicgen.train.run_dir import load_config

    run = layout.RunDir(uri.rstrip("/"))
    try:
        cfg = load_config(run.config)
    except ObjectNotFound as exc:
        raise ConfigError(f"generate: no training run at {uri} ({exc})") from exc
    info = _encoding_info(run.uri, cfg.data.dataset)
    model_file = run.model
    if not storage.exists(model_file):
        latest = checkpoints.latest_checkpoint(run.checkpoints)
        if latest is None:
            raise ConfigError(f"generate: {uri} has neither {run.model} nor a checkpoint")
        model_file = latest.model_uri
    family = get_family(cfg.model.family)
    with tempfile.TemporaryDirectory(prefix="musicgen-model-") as tmp:
        local = Path(tmp) / "model.keras"
        local.write_bytes(storage.read_bytes(model_file))
        model = keras.saving.load_model(
            str(local), custom_objects=family.custom_objects(), compile=False
        )
    return LoadedRun(run.uri, cfg, info, model, model_file)
