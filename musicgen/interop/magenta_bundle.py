"""Magenta's ``GeneratorBundle`` (``.mag``) files: parsed from and serialized to bytes.

A bundle is one protobuf (``note_seq.protobuf.generator_pb2.GeneratorBundle``) holding the
generator id (= the Magenta config name), two descriptions, one single-file TF **V1**
checkpoint and the generate graph's ``MetaGraphDef``. Magenta's ``create_bundle_file`` writes
it; ``read_bundle_file`` reads it. Only parsing lives here: no TensorFlow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from musicgen.interop.errors import MagentaModelError


@dataclass(frozen=True)
class MagentaBundle:
    """A parsed GeneratorBundle.

    Attributes:
        uri: Where it was read from (named in errors and in the imported run's provenance).
        sha256: Hex digest of the file's bytes.
        generator_id: ``generator_details.id``: Magenta's config name, e.g.
            ``performance_with_dynamics`` (the compact config also says this; see
            :func:`musicgen.interop.magenta_checkpoint.metagraph_input_width`).
        generator_description: ``generator_details.description``.
        bundle_description: ``bundle_details.description`` (may be empty).
        checkpoint: The one V1 checkpoint file's bytes.
        metagraph: The ``MetaGraphDef`` bytes.
    """

    uri: str
    sha256: str
    generator_id: str
    generator_description: str
    bundle_description: str
    checkpoint: bytes
    metagraph: bytes


def parse_bundle(data: bytes, uri: str) -> MagentaBundle:
    """Parses a ``.mag`` file's bytes.

    Raises:
        MagentaModelError: Not a GeneratorBundle or cut short (``truncated``), no generator id
            (``no-generator-id``), or not exactly one checkpoint file (``no-checkpoint``,
            ``sharded-checkpoint``).
    """
    from google.protobuf.message import DecodeError
    from note_seq.protobuf import generator_pb2

    bundle = generator_pb2.GeneratorBundle()
    try:
        bundle.ParseFromString(data)
    except DecodeError as exc:
        raise MagentaModelError(
            uri, "truncated", f"not a complete GeneratorBundle ({len(data)} bytes): {exc}"
        ) from exc
    if not bundle.generator_details.id:
        raise MagentaModelError(
            uri, "no-generator-id", "the bundle names no generator (generator_details.id)"
        )
    if not bundle.checkpoint_file:
        raise MagentaModelError(uri, "no-checkpoint", "the bundle holds no checkpoint file")
    if len(bundle.checkpoint_file) > 1:
        # Magenta itself reads only checkpoint_file[0] ("we support only 1 checkpoint file").
        raise MagentaModelError(
            uri, "sharded-checkpoint",
            f"{len(bundle.checkpoint_file)} checkpoint files; Magenta reads exactly one",
        )  # fmt: skip
    return MagentaBundle(
        uri=uri,
        sha256=hashlib.sha256(data).hexdigest(),
        generator_id=bundle.generator_details.id,
        generator_description=bundle.generator_details.description,
        bundle_description=bundle.bundle_details.description,
        checkpoint=bytes(bundle.checkpoint_file[0]),
        metagraph=bytes(bundle.metagraph_file),
    )


def read_bundle(uri: str) -> MagentaBundle:
    """Reads and parses the bundle at ``uri`` (local or gs://); see :func:`parse_bundle`.

    Raises:
        MagentaModelError: No such file (``not-found``), or see :func:`parse_bundle`.
    """
    from musicgen import storage
    from musicgen.errors import ObjectNotFound

    try:
        data = storage.read_bytes(uri)
    except ObjectNotFound as exc:
        raise MagentaModelError(uri, "not-found", "no such bundle file") from exc
    return parse_bundle(data, uri)


def bundle_bytes(
    generator_id: str,
    generator_description: str,
    bundle_description: str,
    checkpoint: bytes,
    metagraph: bytes,
) -> bytes:
    """A serialized GeneratorBundle, field for field what ``create_bundle_file`` writes."""
    from note_seq.protobuf import generator_pb2

    bundle = generator_pb2.GeneratorBundle()
    bundle.generator_details.id = generator_id
    bundle.generator_details.description = generator_description
    if bundle_description:
        bundle.bundle_details.description = bundle_description
    bundle.checkpoint_file.append(checkpoint)
    bundle.metagraph_file = metagraph
    data: bytes = bundle.SerializeToString()
    return data
