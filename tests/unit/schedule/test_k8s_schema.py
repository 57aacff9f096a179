"""CRD schemas as strict validators: defaults first, unknown fields rejected, nullable honoured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from musicgen.errors import ConfigError
from musicgen.schedule import k8s_schema


@pytest.fixture(scope="module")
def crd_dir() -> Path:
    return k8s_schema.DEFAULT_CRD_DIR


def _raycluster() -> dict[str, Any]:
    pod = {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "c"},
        "spec": {
            "headGroupSpec": {"rayStartParams": {}, "template": {"spec": pod}},
            # minReplicas/maxReplicas are required *and* defaulted: valid only after defaulting.
            "workerGroupSpecs": [{"groupName": "w", "template": {"spec": pod}}],
        },
    }


def test_strict_adds_additional_properties_false_where_properties_are_listed() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "object", "properties": {"b": {"type": "string"}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                     "properties": {"x": {"type": "string"}}},
            "n": {"type": "string", "nullable": True},
        },
    }  # fmt: skip
    out = k8s_schema.strict(schema)
    assert out["additionalProperties"] is False
    assert out["properties"]["a"]["additionalProperties"] is False
    assert out["properties"]["labels"]["additionalProperties"] == {"type": "string"}
    assert "additionalProperties" not in out["properties"]["free"]
    assert out["properties"]["n"]["type"] == ["string", "null"]
    assert "additionalProperties" not in schema  # the input is not modified


def test_defaults_make_required_defaulted_fields_valid(crd_dir: Path) -> None:
    obj = _raycluster()
    defaulted, errors = k8s_schema.validate_custom_object(obj, crd_dir)
    assert errors == []
    group = defaulted["spec"]["workerGroupSpecs"][0]
    assert group["minReplicas"] == 0
    assert group["maxReplicas"] == 2147483647
    assert "minReplicas" not in obj["spec"]["workerGroupSpecs"][0]  # input untouched
    crd = k8s_schema.load_crd_schema("RayCluster", directory=crd_dir)
    assert k8s_schema.schema_errors(obj, crd.schema)  # without defaults it would be rejected


def test_unknown_fields_and_wrong_types_are_reported_with_paths(crd_dir: Path) -> None:
    obj = _raycluster()
    obj["spec"]["enableInTreeAutoscalling"] = True
    obj["spec"]["workerGroupSpecs"][0]["replicas"] = "two"
    _, errors = k8s_schema.validate_custom_object(obj, crd_dir)
    assert any(e.startswith("spec:") and "enableInTreeAutoscalling" in e for e in errors)
    assert any(e.startswith("spec.workerGroupSpecs[0].replicas:") for e in errors)


@pytest.mark.parametrize(
    ("name", "ok"),
    [("gen-nightly-202608200300", True), ("a" * 47, True), ("a" * 48, False),
     ("Gen", False), ("1gen", False), ("gen_x", False)],
)  # fmt: skip
def test_rayjob_names_follow_the_operator(name: str, ok: bool) -> None:
    errors = k8s_schema.validate_rayjob_metadata({"metadata": {"name": name}})
    assert (errors == []) is ok


def test_non_kuberay_kinds_and_missing_folders_are_explicit(tmp_path: Path) -> None:
    _, errors = k8s_schema.validate_custom_object({"apiVersion": "v1", "kind": "Pod"})
    assert errors
    assert "not a KubeRay kind" in errors[0]
    with pytest.raises(ConfigError, match="--crd-dir"):
        k8s_schema.load_crd_schema("RayJob", directory=tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="no KubeRay CRD"):
        k8s_schema.load_crd_schema("RayService")


def test_the_crds_ship_with_the_package_and_the_env_var_still_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(k8s_schema.CRD_DIR_ENV, raising=False)
    assert k8s_schema.crd_dir() == k8s_schema.DEFAULT_CRD_DIR
    assert k8s_schema.DEFAULT_CRD_DIR.parent == Path(k8s_schema.__file__).resolve().parent
    for name in [*k8s_schema.CRD_FILES.values(), "LICENSE", "README.md"]:
        assert (k8s_schema.DEFAULT_CRD_DIR / name).is_file(), name
    assert k8s_schema.load_crd_schema("RayJob").source.parent == k8s_schema.DEFAULT_CRD_DIR
    monkeypatch.setenv(k8s_schema.CRD_DIR_ENV, str(tmp_path))
    assert k8s_schema.crd_dir() == tmp_path
    with pytest.raises(ConfigError, match=r"ray\.io_rayjobs\.yaml: CRD file missing"):
        k8s_schema.load_crd_schema("RayJob")
