"""The RayJob a slot sends: the reviewed template plus this slot's name, labels, entrypoint, image.

The cluster shape (GPU group, tolerations, resources, service account) is deployment config,
reviewed and schema-checked with the other manifests; this module owns only what changes per slot.
Every body is validated against the RayJob CRD (defaults applied, unknown fields rejected) before
it is sent, and the admission policy in k8s/base (tests/unit/schedule/test_admission_policy.py)
admits exactly such bodies from the launcher's service account.
"""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any

from musicgen.errors import ConfigError
from musicgen.schedule import k8s_schema
from musicgen.schedule.config import LauncherConfig
from musicgen.schedule.slots import iso, rayjob_name

GROUP, VERSION, PLURAL = "ray.io", "v1", "rayjobs"
# The admission policy admits the launcher's creates and deletes only for RayJobs with this label.
SCHEDULE_LABEL = "musicgen.io/schedule"
SLOT_ANNOTATION = "musicgen.io/slot"
MANAGED_BY = "musicgen-schedule-generation"
ENTRYPOINT_TOKENS = ("{batch_id}", "{date}", "{slot}", "{schedule}")


def load_template(path: Path) -> dict[str, Any]:
    """The RayJob manifest at ``path`` (one YAML document of kind RayJob, ray.io/v1)."""
    import yaml

    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the RayJob template: {exc}") from exc
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ConfigError(f"{path}: expected exactly one YAML mapping, found {len(docs)} documents")
    doc = docs[0]
    if doc.get("kind") != "RayJob" or doc.get("apiVersion") != f"{GROUP}/{VERSION}":
        raise ConfigError(
            f"{path}: expected kind RayJob, apiVersion {GROUP}/{VERSION}; "
            f"got {doc.get('kind')!r}, {doc.get('apiVersion')!r}"
        )
    return doc


def pod_specs(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod specs of a RayJob spec: head, every worker group, then the submitter."""
    cluster = spec.get("rayClusterSpec") or {}
    pods = [((cluster.get("headGroupSpec") or {}).get("template") or {}).get("spec") or {}]
    for group in cluster.get("workerGroupSpecs") or []:
        pods.append((group.get("template") or {}).get("spec") or {})
    pods.append((spec.get("submitterPodTemplate") or {}).get("spec") or {})
    return pods


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every container (and init container) of the RayJob's pods, plus the submitter's."""
    keys = ("initContainers", "containers")
    return [c for pod in pod_specs(spec) for key in keys for c in pod.get(key, [])]


def build_rayjob(template: dict[str, Any], cfg: LauncherConfig, slot: datetime) -> dict[str, Any]:
    """The RayJob for ``slot``: the template with this slot's name, labels and entrypoint."""
    body = copy.deepcopy(template)
    body.pop("status", None)
    meta = body.get("metadata") or {}
    name = rayjob_name(cfg.schedule, slot)
    labels = {
        **(meta.get("labels") or {}),
        SCHEDULE_LABEL: cfg.schedule,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    annotations = {**(meta.get("annotations") or {}), SLOT_ANNOTATION: iso(slot)}
    # Server-owned fields (uid, resourceVersion, ...) must not be sent; keep only ours.
    body["metadata"] = {
        "name": name,
        "namespace": cfg.namespace,
        "labels": labels,
        "annotations": annotations,
    }
    spec = body.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("entrypoint"), str):
        raise ConfigError(f"{cfg.template}: spec.entrypoint missing")
    if "{batch_id}" not in spec["entrypoint"]:
        # Without it every slot would write to the same place and a run could overwrite another.
        raise ConfigError(f"{cfg.template}: spec.entrypoint must contain {{batch_id}}")
    values = {
        "{batch_id}": name,
        "{date}": slot.strftime("%Y-%m-%d"),
        "{slot}": iso(slot),
        "{schedule}": cfg.schedule,
    }
    entrypoint = spec["entrypoint"]
    for token in ENTRYPOINT_TOKENS:
        entrypoint = entrypoint.replace(token, values[token])
    spec["entrypoint"] = entrypoint
    if cfg.image:
        _set_image(spec, cfg.image)
    return body


def _set_image(spec: dict[str, Any], image: str) -> None:
    cluster = spec.get("rayClusterSpec") or {}
    head = (((cluster.get("headGroupSpec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or [{}]
    ray_image = head[0].get("image")
    if not ray_image:
        raise ConfigError("RayJob template: the head group has no container image to replace")
    # Only containers running the template's Ray image: a sidecar with its own image keeps it.
    for container in containers(spec):
        if container.get("image") == ray_image:
            container["image"] = image
    autoscaler = cluster.get("autoscalerOptions") or {}
    if autoscaler.get("image") == ray_image:
        autoscaler["image"] = image


def validate_body(body: dict[str, Any], crd_dir: str | None = None) -> None:
    """Raises ConfigError listing every way ``body`` violates the RayJob CRD."""
    _, errors = k8s_schema.validate_custom_object(body, crd_dir)
    if errors:
        listing = "\n  ".join(errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise ConfigError(f"RayJob {body['metadata']['name']} is invalid:\n  {listing}{more}")
