"""Variables out of Magenta's TF1 checkpoints: a bundle's V1 file, or a training folder's V2 files.

TensorFlow's checkpoint reader only opens local files, and must never be handed a gs:// path
(its GCS filesystem is not ours: no credentials seam, no emulator). So every file is read through
:mod:`musicgen.storage` and written to a local temporary folder first.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from musicgen.interop.errors import MagentaModelError

Variables = Mapping[str, NDArray[np.float32]]
_STEP_RE = re.compile(r"^(?P<prefix>.+)\.index$")
_STATE_RE = re.compile(r'^model_checkpoint_path:\s*"(?P<path>[^"]+)"', re.MULTILINE)
CHECKPOINT_STATE = "checkpoint"  # TF's "latest checkpoint" text proto in a training folder


def _read_local(prefix: Path, uri: str) -> dict[str, NDArray[np.float32]]:
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(str(prefix))
        names = sorted(reader.get_variable_to_shape_map())
        return {name: np.asarray(reader.get_tensor(name)) for name in names}
    except (tf.errors.OpError, ValueError) as exc:
        raise MagentaModelError(
            uri, "corrupt-checkpoint", f"TensorFlow cannot read the checkpoint: {exc}"
        ) from exc


def v1_checkpoint_variables(data: bytes, uri: str) -> dict[str, NDArray[np.float32]]:
    """Every variable of a single-file V1 checkpoint (a bundle's ``checkpoint_file[0]``).

    Raises:
        MagentaModelError: The bytes are not a readable checkpoint (``corrupt-checkpoint``).
    """
    with tempfile.TemporaryDirectory(prefix="musicgen-magenta-") as tmp:
        path = Path(tmp) / "model.ckpt"
        path.write_bytes(data)
        return _read_local(path, uri)


def _latest_prefix(folder: str, names: set[str]) -> str:
    """The checkpoint prefix TF's ``checkpoint`` file names, else the highest-step ``.index``."""
    from musicgen import storage

    if CHECKPOINT_STATE in names:
        text = storage.read_bytes(storage.join(folder, CHECKPOINT_STATE)).decode("utf-8", "replace")
        match = _STATE_RE.search(text)
        if match:
            # Written on the training machine: often an absolute path there. Only the name counts.
            prefix = match["path"].replace("\\", "/").rsplit("/", 1)[-1]
            if f"{prefix}.index" in names:
                return prefix
    prefixes = [m["prefix"] for name in names if (m := _STEP_RE.match(name))]
    if not prefixes:
        raise MagentaModelError(
            folder, "no-checkpoint", "no TF checkpoint here (no *.index file, no bundle)"
        )

    def step(prefix: str) -> tuple[int, str]:
        digits = re.search(r"-(\d+)$", prefix)
        return (int(digits.group(1)) if digits else -1, prefix)

    return max(prefixes, key=step)


def folder_checkpoint_variables(folder: str) -> tuple[str, dict[str, NDArray[np.float32]]]:
    """The variables of the newest TF checkpoint in a Magenta training folder (local or gs://).

    ``performance_rnn_train`` writes ``model.ckpt-<step>.index`` / ``.data-*`` (V2) and a
    ``checkpoint`` file naming the newest; only that checkpoint's files are downloaded.

    Returns:
        ``(checkpoint prefix URI, variables)``.

    Raises:
        MagentaModelError: No checkpoint there (``no-checkpoint``) or it cannot be read.
    """
    from musicgen import storage
    from musicgen.errors import ObjectNotFound

    folder = folder.rstrip("/")
    try:
        names = {storage.basename(f.uri) for f in storage.list_files(folder, recursive=False)}
    except ObjectNotFound as exc:
        raise MagentaModelError(folder, "not-found", "no such checkpoint folder") from exc
    prefix = _latest_prefix(folder, names)
    wanted = sorted(n for n in names if n == f"{prefix}.index" or n.startswith(f"{prefix}.data-"))
    with tempfile.TemporaryDirectory(prefix="musicgen-magenta-") as tmp:
        for name in wanted:
            (Path(tmp) / name).write_bytes(storage.read_bytes(storage.join(folder, name)))
        prefix_uri = storage.join(folder, prefix)
        return prefix_uri, _read_local(Path(tmp) / prefix, prefix_uri)


def metagraph_input_width(metagraph: bytes) -> int | None:
    """The last dimension of the generate graph's ``inputs`` placeholder, if the graph says.

    Magenta's compact config (``performance_with_dynamics_compact``) writes the generator id
    ``performance_with_dynamics`` and the same weights as the one-hot config; only its inputs
    (one class index per step, width 1) tell them apart.
    """
    if not metagraph:
        return None
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef()
    try:
        meta.ParseFromString(metagraph)
    except DecodeError:
        return None
    names = meta.collection_def["inputs"].node_list.value if "inputs" in meta.collection_def else []
    if not names:
        return None
    node_name = names[0].split(":")[0]
    for node in meta.graph_def.node:
        if node.name == node_name and "shape" in node.attr:
            dims = node.attr["shape"].shape.dim
            return int(dims[-1].size) if dims and dims[-1].size >= 0 else None
    return None
