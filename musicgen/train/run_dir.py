"""A run's identity and its resolved config: run ids, ``config.resolved.yaml`` written and read.

The names inside a run directory live in :mod:`musicgen.storage.layout` (:class:`RunDir`).
"""

from __future__ import annotations

import dataclasses
import re
import time

from musicgen import storage
from musicgen.errors import ConfigError, ObjectNotFound
from musicgen.storage.layout import RunDir
from musicgen.train.config import TrainConfig

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def new_run_id() -> str:
    """A run id from the UTC time, e.g. ``20250101-120000``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def run_dir_of(cfg: TrainConfig) -> RunDir:
    """``<runs_dir>/<model.family>/<run_id>``; the config must have its run id."""
    if cfg.run_id is None:
        raise ValueError("resolve the run id first (with_run_id)")
    return RunDir.of(cfg.runs_dir, cfg.model.family, cfg.run_id)


def with_run_id(cfg: TrainConfig) -> TrainConfig:
    """The config with its run id set (a new time-based one if None), checked as a name."""
    run_id = cfg.run_id or new_run_id()
    if not _RUN_ID.match(run_id):
        raise ConfigError(f"train: run_id {run_id!r} must be letters, digits, '.', '_' or '-'")
    return dataclasses.replace(cfg, run_id=run_id)


def config_yaml(cfg: TrainConfig) -> str:
    """The full config as YAML (tuples as lists), loadable with ``from_dict(TrainConfig, ...)``."""
    import yaml

    return yaml.safe_dump(plain(cfg), sort_keys=False)


def plain(cfg: TrainConfig) -> dict[str, object]:
    """The config as plain dicts/lists/scalars (for YAML, JSON and Ray's train_loop_config)."""

    def lists(value: object) -> object:
        if isinstance(value, dict):
            return {k: lists(v) for k, v in value.items()}
        if isinstance(value, tuple | list):
            return [lists(v) for v in value]
        return value

    out: dict[str, object] = {k: lists(v) for k, v in dataclasses.asdict(cfg).items()}
    return out


def load_config(uri: str) -> TrainConfig:
    """Reads a ``config.resolved.yaml`` back, also one written before model configs were split
    per family (its model carries every family's keys; those its family never read are dropped).
    """
    import yaml

    from musicgen.config import from_dict
    from musicgen.models.configs import legacy_keys_dropped

    data = yaml.safe_load(storage.read_bytes(uri))
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        data["model"] = legacy_keys_dropped(data["model"])
    return from_dict(TrainConfig, data, source=uri)


def write_config(run: RunDir, cfg: TrainConfig) -> bool:
    """Writes ``config.resolved.yaml``; True if the run already existed (a resume).

    Raises:
        ConfigError: The run exists with another model or dataset, which its checkpoints
            could not be loaded into (names the file).
    """
    try:
        old = load_config(run.config)
    except ObjectNotFound:
        old = None
    if old is not None and (old.model != cfg.model or old.data.dataset != cfg.data.dataset):
        raise ConfigError(
            f"{run.config}: run {cfg.run_id!r} exists with another model or dataset; "
            "resume it with the same settings or pick a new run_id"
        )
    storage.write_text(run.config, config_yaml(cfg))
    return old is not None
