"""A trained run, loaded for generation: its config, its dataset's encoding and its model."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from musicgen import storage
from musicgen.errors import ConfigError, ObjectNotFound
from musicgen.examples.encoding_info import EncodingInfo, read_encoding_info
from musicgen.train.config import TrainConfig


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


def load_run(uri: str) -> LoadedRun:
    """Rebuilds the model of the run at ``uri`` from its own files.

    Uses ``model.keras`` (written when training finished) or else the newest checkpoint.

    Raises:
        ConfigError: No such run, or it has no model or checkpoint yet (names the path).
    """
    import keras

    from musicgen.models.registry import get_family
    from musicgen.train import checkpoints
    from musicgen.train.run_dir import RunDir, load_config

    run = RunDir(uri.rstrip("/"))
    try:
        cfg = load_config(run.config)
    except ObjectNotFound as exc:
        raise ConfigError(f"generate: no training run at {uri} ({exc})") from exc
    try:
        info = read_encoding_info(cfg.data.dataset)
    except ObjectNotFound as exc:
        raise ConfigError(
            f"generate: the run's dataset {cfg.data.dataset} has no encoding.json ({exc})"
        ) from exc
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
