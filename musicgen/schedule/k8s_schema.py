"""KubeRay CRD schemas as strict JSON schemas: defaults applied, unknown fields rejected.

No API server runs in CI, so the launcher (before it sends a RayJob) and the tests (for every
rendered manifest) validate custom objects against the CRDs' ``openAPIV3Schema`` themselves. Two
things make that faithful to what the API server does (kuberay_crds/README.md beside this module):

- schema defaults are applied first (``workerGroupSpecs[].minReplicas`` is required *and*
  defaulted, so an undefaulted valid object would be rejected);
- ``additionalProperties: false`` is added to every object schema that lists ``properties``, the
  way strict field validation rejects a typo such as ``shutdownAfterJobFinish``.

Not covered: the CRDs' CEL rules (``x-kubernetes-validations``) and checks the operator does at
runtime (e.g. ``submissionMode`` has no enum); ``validate_rayjob_metadata`` adds the name rules.
"""

from __future__ import annotations

import copy
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from musicgen.errors import ConfigError

CRD_DIR_ENV = "MUSICGEN_KUBERAY_CRDS"
# Package data (KubeRay v1.7.0, Apache-2.0): a clone, a wheel and the image all carry the CRDs, so
# none of them needs a folder beside the checkout or a setting to find them.
DEFAULT_CRD_DIR = Path(__file__).resolve().parent / "kuberay_crds"

CRD_FILES = {
    "RayCluster": "ray.io_rayclusters.yaml",
    "RayJob": "ray.io_rayjobs.yaml",
    "RayCronJob": "ray.io_raycronjobs.yaml",
}

# KubeRay appends 6 characters to a RayJob's name for its RayCluster, whose names are capped at 53
# so that "-serve-svc" still fits a 63-character DNS label (ray-operator utils/constant.go).
MAX_RAYJOB_NAME = 47
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class CrdSchema:
    """The strict JSON schema of one served version of a KubeRay kind."""

    kind: str
    api_version: str
    schema: dict[str, Any]
    source: Path


def crd_dir(explicit: str | Path | None = None) -> Path:
    """The CRD folder: ``explicit``, else ``$MUSICGEN_KUBERAY_CRDS``, else the package's copy."""
    path = Path(explicit or os.environ.get(CRD_DIR_ENV) or DEFAULT_CRD_DIR)
    if not path.is_dir():
        raise ConfigError(
            f"KubeRay CRD folder {path} not found: pass --crd-dir or set {CRD_DIR_ENV} "
            f"(unset, the CRDs installed with musicgen are used: {DEFAULT_CRD_DIR})"
        )
    return path


@functools.lru_cache(maxsize=8)
def _load(path: Path, kind: str, version: str) -> CrdSchema:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the RayJob CRD is 1.4 MB of YAML
    try:
        crd = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - safe loader
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the CRD: {exc}") from exc
    if crd.get("kind") != "CustomResourceDefinition" or crd["spec"]["names"]["kind"] != kind:
        raise ConfigError(f"{path}: not the CustomResourceDefinition of {kind}")
    group = crd["spec"]["group"]
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            schema = strict(entry["schema"]["openAPIV3Schema"])
            return CrdSchema(kind, f"{group}/{version}", schema, path)
    raise ConfigError(f"{path}: {kind} has no version {version}")


def load_crd_schema(
    kind: str, version: str = "v1", directory: str | Path | None = None
) -> CrdSchema:
    """The strict schema of ``kind`` (RayCluster, RayJob, RayCronJob) at ``version``; cached."""
    if kind not in CRD_FILES:
        raise ConfigError(f"no KubeRay CRD for kind {kind!r} (known: {', '.join(CRD_FILES)})")
    path = (crd_dir(directory) / CRD_FILES[kind]).resolve()
    if not path.is_file():
        raise ConfigError(f"{path}: CRD file missing")
    return _load(path, kind, version)


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of an OpenAPI v3 schema that rejects unknown fields and honours ``nullable``."""
    out = copy.deepcopy(schema)
    _tighten(out)
    return out


def _tighten(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _tighten(item)
        return
    if not isinstance(node, dict):
        return
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        node["additionalProperties"] = False
    if node.get("nullable") and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]  # OpenAPI's nullable is JSON schema's null type
    for key, value in node.items():
        if key == "properties":
            for prop in value.values():
                _tighten(prop)
        elif key in ("items", "additionalProperties", "anyOf", "allOf", "oneOf", "not"):
            _tighten(value)


def apply_defaults(obj: Any, schema: dict[str, Any]) -> Any:
    """A copy of ``obj`` with the schema's defaults filled in where the API server would."""
    out = copy.deepcopy(obj)
    _default(out, schema)
    return out


def _default(obj: Any, schema: dict[str, Any]) -> None:
    if isinstance(obj, dict):
        for name, prop in schema.get("properties", {}).items():
            if name not in obj and "default" in prop:
                obj[name] = copy.deepcopy(prop["default"])
            if name in obj:
                _default(obj[name], prop)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, value in obj.items():
                if name not in schema.get("properties", {}):
                    _default(value, extra)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for item in obj:
            _default(item, schema["items"])


def schema_errors(obj: Any, schema: dict[str, Any]) -> list[str]:
    """Every violation as ``path: message`` (empty when valid); ``obj`` should be defaulted."""
    import jsonschema

    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{_path(e.absolute_path)}: {e.message}" for e in errors]


def _path(parts: Any) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
    return text.lstrip(".") or "<root>"


def validate_rayjob_metadata(obj: dict[str, Any]) -> list[str]:
    """The operator's RayJob name rules (DNS-1035 label, at most 47 characters)."""
    name = (obj.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        return ["metadata.name: missing"]
    errors = []
    if len(name) > MAX_RAYJOB_NAME:
        errors.append(f"metadata.name: {name!r} is longer than {MAX_RAYJOB_NAME} characters")
    if not DNS1035_LABEL.match(name):
        errors.append(
            f"metadata.name: {name!r} is not a DNS-1035 label ([a-z]([-a-z0-9]*[a-z0-9])?)"
        )
    return errors


def validate_custom_object(
    obj: dict[str, Any], directory: str | Path | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Defaults ``obj`` and validates it against its kind's CRD; returns (defaulted, errors)."""
    kind = obj.get("kind")
    api_version = obj.get("apiVersion", "")
    if not isinstance(kind, str) or kind not in CRD_FILES:
        return obj, [f"kind: {kind!r} is not a KubeRay kind ({', '.join(CRD_FILES)})"]
    if not isinstance(api_version, str) or not api_version.startswith("ray.io/"):
        return obj, [f"apiVersion: {api_version!r} is not ray.io/<version>"]
    crd = load_crd_schema(kind, api_version.split("/", 1)[1], directory)
    defaulted = apply_defaults(obj, crd.schema)
    errors = schema_errors(defaulted, crd.schema)
    if kind == "RayJob":
        errors += validate_rayjob_metadata(defaulted)
    return defaulted, errors
