"""Every pod the overlays make passes Pod Security `restricted`, with a read-only root filesystem.

The namespace enforces `restricted`; this checks the same controls before anything is applied
(tests/fixtures/pod_security.py), over every pod template, the generation RayJob the launcher
sends, and the autoscaler sidecar KubeRay adds to the long-lived head from autoscalerOptions.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures import pod_security
from tests.fixtures.k8s_manifests import (
    KUSTOMIZATIONS,
    PLATFORMS,
    all_objects,
    one,
    pod_specs,
    pod_templates,
    render,
)

pytestmark = pytest.mark.integration

# Where Ray and the libraries it loads write at run time; each must be a writable emptyDir.
RAY_WRITABLE = {"/tmp", "/home/ray/.cache"}  # /tmp/ray: sessions, logs, spilling; ~/.cache: numba


def with_operator_containers(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict]]:
    """(where, pod spec, template metadata), the head gaining KubeRay's autoscaler sidecar."""
    metas = dict(pod_templates(obj))
    for where, pod in pod_specs(obj):
        pod = copy.deepcopy(pod)
        if where.endswith(" head") and obj["spec"].get("enableInTreeAutoscaling"):
            options = obj["spec"].get("autoscalerOptions") or {}
            sidecar = {"name": "autoscaler", "image": options.get("image", "ray")}
            for key in ("securityContext", "resources", "volumeMounts", "env", "command"):
                if key in options:
                    sidecar[key] = options[key]
            pod["containers"].append(sidecar)
        yield where, pod, metas.get(where, {})


def test_every_namespace_enforces_restricted() -> None:
    for kustomization in PLATFORMS:
        labels = one(render(kustomization), "Namespace")["metadata"]["labels"]
        for mode in ("enforce", "warn", "audit"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", kustomization


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_pod_passes_restricted(kustomization: str) -> None:
    checked = 0
    for _, obj in [(k, o) for k, o in all_objects() if k == kustomization]:
        for where, pod, meta in with_operator_containers(obj):
            assert pod_security.violations(pod, meta) == [], f"k8s/{kustomization} {where}"
            checked += 1
    assert checked >= 3


def test_every_container_has_a_read_only_root_and_ray_its_scratch_space() -> None:
    for kustomization, obj in all_objects():
        for where, pod, _ in with_operator_containers(obj):
            volumes = {v["name"]: v for v in pod.get("volumes") or []}
            for container in pod["containers"]:
                label = f"k8s/{kustomization} {where} {container['name']}"
                sec = container.get("securityContext") or {}
                assert sec.get("readOnlyRootFilesystem") is True, label
                mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts") or []}
                assert "/tmp" in mounts, f"{label}: no writable /tmp"
                if container["name"] in ("ray-head", "ray-worker"):
                    assert set(mounts) >= RAY_WRITABLE, f"{label}: {sorted(mounts)}"
                for path, name in mounts.items():
                    if path in RAY_WRITABLE:
                        assert "emptyDir" in volumes[name], f"{label}: {path} is not an emptyDir"


# -- the checker itself catches each control ---------------------------------------------------


def _good_pod() -> dict[str, Any]:
    return {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "c", "image": "x", "securityContext": {
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }  # fmt: skip


def _ctx(pod: dict[str, Any]) -> dict[str, Any]:
    ctx: dict[str, Any] = pod["containers"][0]["securityContext"]
    return ctx


BREAKS = {
    "host_process": lambda p: _ctx(p).update(windowsOptions={"hostProcess": True}),
    "host_namespaces": lambda p: p.update(hostNetwork=True),
    "privileged": lambda p: _ctx(p).update(privileged=True),
    "baseline_capabilities": lambda p: _ctx(p)["capabilities"].update(add=["SYS_ADMIN"]),
    "host_path_volumes": lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
    "host_ports": lambda p: p["containers"][0].update(ports=[{"containerPort": 1, "hostPort": 1}]),
    "apparmor": lambda p: _ctx(p).update(appArmorProfile={"type": "Unconfined"}),
    "selinux": lambda p: _ctx(p).update(seLinuxOptions={"type": "spc_t"}),
    "proc_mount": lambda p: _ctx(p).update(procMount="Unmasked"),
    "baseline_seccomp": lambda p: _ctx(p).update(seccompProfile={"type": "Unconfined"}),
    "sysctls": lambda p: p["securityContext"].update(sysctls=[{"name": "kernel.msgmax"}]),
    "volume_types": lambda p: p["volumes"].append({"name": "n", "nfs": {"path": "/"}}),
    "privilege_escalation": lambda p: _ctx(p).pop("allowPrivilegeEscalation"),
    "run_as_non_root": lambda p: p["securityContext"].pop("runAsNonRoot"),
    "run_as_user": lambda p: _ctx(p).update(runAsUser=0),
    "restricted_seccomp": lambda p: p["securityContext"].pop("seccompProfile"),
    "restricted_capabilities": lambda p: _ctx(p).update(capabilities={"drop": ["NET_RAW"]}),
}  # fmt: skip


def test_the_good_pod_passes() -> None:
    assert pod_security.violations(_good_pod()) == []


@pytest.mark.parametrize("control", sorted(BREAKS))
def test_each_control_catches_its_violation(control: str) -> None:
    pod = _good_pod()
    BREAKS[control](pod)
    found = {v.split(":", 1)[0] for v in pod_security.violations(pod)}
    assert control in found, pod_security.violations(pod)


def test_every_control_is_exercised() -> None:
    assert {c.__name__ for c in pod_security.RESTRICTED} == set(BREAKS)
