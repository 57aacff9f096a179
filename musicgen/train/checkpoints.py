"""Checkpoints in the run directory: ``checkpoints/ckpt-<step:08d>.keras`` + ``.json``.

The ``.keras`` file is the compiled model, so it carries the optimizer's variables (Adam's
moments, its iteration count, the loss scale) beside the weights; the JSON (step, metrics) is
written after it and marks the checkpoint complete. Only rank 0 writes; every rank restores.
Restoring loads the file outside any distribution strategy and assigns its values, in order,
into the freshly built (possibly mirrored) model and optimizer, so the same code serves 1 or N
workers and a checkpoint written by N workers resumes on M. The optimizer's class is
:class:`~musicgen.train.optimizer.AllReducedAdam` (registered when that module is imported);
checkpoints written with Keras' own Adam restore too.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musicgen import storage
from musicgen.errors import JobFailed, ObjectNotFound
from musicgen.storage import layout

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckpointInfo:
    """One complete checkpoint."""

    step: int
    model_uri: str
    meta_uri: str


class CheckpointError(JobFailed):
    """A checkpoint cannot be restored into this model (names the file)."""


def list_checkpoints(folder: str) -> list[CheckpointInfo]:
    """Complete checkpoints (JSON and .keras both present) under ``folder``, oldest first."""
    try:
        names = {storage.basename(f.uri) for f in storage.list_files(folder, recursive=False)}
    except ObjectNotFound:
        return []
    out = []
    for name in sorted(names):
        parsed = layout.checkpoint_step(name)
        if parsed is None or parsed[1] != ".json":
            continue
        stem = layout.checkpoint_stem(parsed[0])
        if f"{stem}.keras" in names:
            out.append(
                CheckpointInfo(
                    parsed[0], storage.join(folder, f"{stem}.keras"), storage.join(folder, name)
                )
            )
    return out


def latest_checkpoint(folder: str) -> CheckpointInfo | None:
    """The newest complete checkpoint, or None."""
    found = list_checkpoints(folder)
    return found[-1] if found else None


def save_checkpoint(
    model: keras.Model, folder: str, step: int, meta: Mapping[str, Any], local_dir: str
) -> CheckpointInfo:
    """Saves the compiled model (with its optimizer) and its JSON to ``folder``.

    The files are first written to ``local_dir`` (which the caller then hands to
    ``ray.train.report``) and copied from there, so gs:// folders work alike.
    """
    stem = layout.checkpoint_stem(step)
    local_model = Path(local_dir) / f"{stem}.keras"
    local_meta = Path(local_dir) / f"{stem}.json"
    model.save(local_model)
    local_meta.write_text(json.dumps({"step": step, **meta}, indent=2) + "\n", encoding="utf-8")
    info = CheckpointInfo(
        step, storage.join(folder, local_model.name), storage.join(folder, local_meta.name)
    )
    storage.upload_file(str(local_model), info.model_uri)
    storage.upload_file(str(local_meta), info.meta_uri)  # last: marks it complete
    return info


def prune_checkpoints(folder: str, keep: int) -> list[int]:
    """Deletes all but the newest ``keep`` checkpoints; returns the steps removed."""
    found = list_checkpoints(folder)
    removed = found[: max(0, len(found) - keep)]
    for ckpt in removed:
        storage.delete(ckpt.meta_uri)  # first: an interrupted prune never leaves a half
        storage.delete(ckpt.model_uri)
    return [c.step for c in removed]


def read_meta(ckpt: CheckpointInfo) -> dict[str, Any]:
    """The checkpoint's JSON."""
    data = json.loads(storage.read_bytes(ckpt.meta_uri))
    if not isinstance(data, dict):
        raise CheckpointError(f"{ckpt.meta_uri}: expected a JSON object")
    return data


def restore_checkpoint(
    ckpt: CheckpointInfo,
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    custom_objects: Mapping[str, Any],
) -> None:
    """Assigns the checkpoint's weights and optimizer variables into ``model``/``optimizer``.

    Both must be built (``optimizer.build(model.trainable_variables)``).

    Raises:
        CheckpointError: The saved variables do not match in number or shape.
    """
    import keras

    with storage.open_reader(ckpt.model_uri) as f, tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "ckpt.keras"
        local.write_bytes(f.read())
        from musicgen.train.optimizer import AllReducedAdam  # the trainer's optimizer class

        objects = {"AllReducedAdam": AllReducedAdam, **custom_objects}
        saved = keras.saving.load_model(local, custom_objects=objects, compile=True)
    if saved.optimizer is None:
        raise CheckpointError(f"{ckpt.model_uri}: saved without an optimizer")
    _assign(ckpt.model_uri, "weights", model.weights, saved.weights)
    _assign(ckpt.model_uri, "optimizer variables", optimizer.variables, saved.optimizer.variables)


def _assign(uri: str, what: str, targets: list[Any], sources: list[Any]) -> None:
    if len(targets) != len(sources):
        raise CheckpointError(f"{uri}: {len(sources)} {what} saved, the model has {len(targets)}")
    for target, source in zip(targets, sources, strict=True):
        if tuple(target.shape) != tuple(source.shape):
            raise CheckpointError(
                f"{uri}: {what} {target.path} has shape {tuple(target.shape)}, "
                f"saved {tuple(source.shape)}"
            )
        target.assign(source.numpy())
