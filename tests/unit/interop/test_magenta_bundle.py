"""GeneratorBundle parsing: the golden bundles, and the ways a bundle file goes wrong."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from musicgen.interop.errors import MagentaModelError
from musicgen.interop.magenta_bundle import bundle_bytes, parse_bundle, read_bundle
from tests.unit.interop.conftest import bundles_dir, manifest_entry


def test_golden_bundle_fields_match_the_manifest(bundle_name: str) -> None:
    entry = manifest_entry(bundle_name)
    path = bundles_dir() / entry["bundle"]["file"]
    bundle = read_bundle(str(path))
    assert bundle.sha256 == entry["bundle"]["sha256"]
    assert bundle.generator_id == entry["generator_id"]
    assert bundle.generator_description == entry["generator_description"]
    assert bundle.bundle_description == entry["bundle_description"]
    assert len(bundle.checkpoint) == entry["bundle"]["checkpoint_bytes"]
    assert len(bundle.metagraph) == entry["bundle"]["metagraph_bytes"]


def test_serializing_the_fields_again_gives_the_same_bytes() -> None:
    data = (bundles_dir() / "performance_with_dynamics_1x96.mag").read_bytes()
    bundle = parse_bundle(data, "x.mag")
    again = bundle_bytes(
        bundle.generator_id,
        bundle.generator_description,
        bundle.bundle_description,
        bundle.checkpoint,
        bundle.metagraph,
    )
    assert hashlib.sha256(again).hexdigest() == bundle.sha256


@pytest.mark.parametrize("keep", [0.5, 0.99, 0.9999])
def test_truncated_bundle_names_the_file_and_the_reason(keep: float) -> None:
    data = (bundles_dir() / "performance_with_dynamics_1x96.mag").read_bytes()
    with pytest.raises(MagentaModelError) as info:
        parse_bundle(data[: int(len(data) * keep)], "gs://b/cut.mag")
    assert info.value.reason == "truncated"
    assert str(info.value).startswith("gs://b/cut.mag: truncated:")
    assert info.value.exit_code == 2


def test_a_bundle_without_checkpoint_or_id_is_refused() -> None:
    from note_seq.protobuf import generator_pb2

    bundle = generator_pb2.GeneratorBundle()
    bundle.generator_details.id = "performance"
    with pytest.raises(MagentaModelError, match="no-checkpoint"):
        parse_bundle(bundle.SerializeToString(), "a.mag")
    bundle.checkpoint_file.extend([b"1", b"2"])
    with pytest.raises(MagentaModelError, match="sharded-checkpoint"):
        parse_bundle(bundle.SerializeToString(), "a.mag")
    with pytest.raises(MagentaModelError, match="no-generator-id"):
        parse_bundle(b"", "empty.mag")


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(MagentaModelError, match="not-found"):
        read_bundle(f"{tmp_path}/nothing.mag")
