"""Every kustomization under k8s/ rendered, schema-validated and checked for the security rules.

No API server runs here, so: `kubectl kustomize` renders, `kubernetes-validate` (bundled
offline schemas, strict) checks built-in kinds, the KubeRay CRDs (defaults applied, unknown fields
rejected) check RayCluster/RayJob, and the rules the issue asks for are plain code below. The
generation RayJob is checked as the launcher would send it (built from the ConfigMap template).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from musicgen.schedule import k8s_schema, launcher
from tests.conftest import in_testdata

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
KUSTOMIZATIONS = [
    "base",
    "base/jobs",
    "overlays/dev",
    "overlays/dev/jobs",
    "overlays/gke",
    "overlays/gke/jobs",
]
PLATFORM_AND_JOBS = [("base", "base/jobs"), ("overlays/dev", "overlays/dev/jobs"),
                     ("overlays/gke", "overlays/gke/jobs")]  # fmt: skip
K8S_VERSION = "1.33"  # GKE's regular channel; kubernetes-validate 1.37.0 bundles 1.25 to 1.37
TEMPLATE_KEY = "rayjob.yaml"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
LAUNCHER_VERBS = {"create", "get", "list", "delete"}


def _pinned_ray() -> str:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        match = re.fullmatch(r"ray(\[[^\]]*\])?==([\w.]+)", dep.replace(" ", ""))
        if match:
            return match[2]
    raise AssertionError("pyproject.toml pins no ray==X.Y.Z")


@cache
def render(kustomization: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl (with kustomize) not found on PATH: install kubectl >= 1.27")
    proc = subprocess.run(
        [kubectl, "kustomize", str(K8S / kustomization)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.fail(f"kubectl kustomize k8s/{kustomization} failed:\n{proc.stderr}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def _one(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def generation_rayjob(objs: list[dict[str, Any]]) -> dict[str, Any]:
    """The RayJob the CronJob's launcher would send, built from the rendered ConfigMap."""
    cronjob = _one(objs, "CronJob")
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    args = launcher.build_parser().parse_args(container["args"])
    configmap = next(o for o in objs if o["kind"] == "ConfigMap" and TEMPLATE_KEY in o["data"])
    template = yaml.safe_load(configmap["data"][TEMPLATE_KEY])
    cfg = launcher.LauncherConfig(
        schedule=args.schedule,
        template=args.template,
        namespace=cronjob["metadata"]["namespace"],
        period_s=launcher.parse_duration(args.period),
        offset_s=launcher.parse_duration(args.offset),
        image=env["MUSICGEN_IMAGE"],
    )
    slot = launcher.slot_for(launcher.parse_slot("2026-08-20T05:00"), cfg.period_s, cfg.offset_s)
    return launcher.build_rayjob(template, cfg, slot)


def with_generation(kustomization: str) -> list[dict[str, Any]]:
    objs = render(kustomization)
    if any(o["kind"] == "CronJob" for o in objs):
        return [*objs, generation_rayjob(objs)]
    return objs


def pod_specs(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, pod spec) for every pod the object makes."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    if kind == "CronJob":
        yield f"{kind}/{name}", obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    cluster = obj["spec"] if kind == "RayCluster" else obj.get("spec", {}).get("rayClusterSpec")
    if kind == "RayJob":
        submitter = obj["spec"].get("submitterPodTemplate")
        assert submitter, (
            f"RayJob/{name}: set submitterPodTemplate (the default one is not hardened)"
        )
        yield f"{kind}/{name} submitter", submitter["spec"]
    if cluster:
        yield f"{kind}/{name} head", cluster["headGroupSpec"]["template"]["spec"]
        for group in cluster.get("workerGroupSpecs", []):
            yield f"{kind}/{name} {group['groupName']}", group["template"]["spec"]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def all_objects() -> Iterator[tuple[str, dict[str, Any]]]:
    for kustomization in KUSTOMIZATIONS:
        for obj in with_generation(kustomization):
            yield kustomization, obj


# -- rendering and schemas ---------------------------------------------------------------------


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_renders_with_the_expected_kinds(kustomization: str) -> None:
    kinds = sorted(o["kind"] for o in render(kustomization))
    if kustomization.endswith("jobs"):
        assert kinds == ["RayJob"] * 3
    else:
        assert kinds == sorted(["ConfigMap", "CronJob", "Namespace", "RayCluster", "Role",
                                "RoleBinding", "ServiceAccount", "ServiceAccount"])  # fmt: skip


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_builtin_kinds_pass_strict_kubernetes_schemas(kustomization: str) -> None:
    import kubernetes_validate

    for obj in render(kustomization):
        if obj["apiVersion"].startswith("ray.io/"):
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"k8s/{kustomization}: {obj['kind']}/{obj['metadata']['name']}: {exc}")


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_kuberay_kinds_pass_the_crds(kustomization: str) -> None:
    crds = in_testdata("k8s-schemas", "kuberay")
    checked = 0
    for obj in with_generation(kustomization):
        if obj["apiVersion"].startswith("ray.io/"):
            _, errors = k8s_schema.validate_custom_object(obj, crds)
            assert errors == [], f"k8s/{kustomization}: {obj['kind']}/{obj['metadata']['name']}"
            checked += 1
    assert checked == (3 if kustomization.endswith("jobs") else 2)  # incl. the generation RayJob


def test_strict_validation_would_catch_a_typo() -> None:
    import kubernetes_validate

    cronjob = _one(render("base"), "CronJob")
    cronjob["spec"]["concurrencyPolicyy"] = "Forbid"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(cronjob, K8S_VERSION, strict=True)


# -- security ----------------------------------------------------------------------------------


def test_every_pod_runs_non_root_without_privilege_escalation() -> None:
    for kustomization, obj in all_objects():
        for where, pod in pod_specs(obj):
            ctx = pod.get("securityContext") or {}
            assert ctx.get("runAsNonRoot") is True, f"{kustomization} {where}: runAsNonRoot"
            assert ctx.get("runAsUser", 1000) != 0, f"{kustomization} {where}: runAsUser 0"
            assert ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
            for container in containers(pod):
                sec = container.get("securityContext") or {}
                label = f"{kustomization} {where} {container['name']}"
                assert sec.get("allowPrivilegeEscalation") is False, f"{label}: escalation"
                assert sec.get("privileged") is not True, f"{label}: privileged"
                assert sec.get("runAsUser", 1000) != 0, f"{label}: runAsUser 0"
                assert "ALL" in sec.get("capabilities", {}).get("drop", []), f"{label}: caps"


def test_every_container_has_requests_and_limits() -> None:
    for kustomization, obj in all_objects():
        sidecars = []
        if obj["kind"] == "RayCluster" and obj["spec"].get("enableInTreeAutoscaling"):
            sidecars.append(("autoscaler", obj["spec"]["autoscalerOptions"]))
        for where, pod in pod_specs(obj):
            sidecars += [(f"{where} {c['name']}", c) for c in containers(pod)]
        for label, container in sidecars:
            resources = container.get("resources") or {}
            for kind in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    assert resource in resources.get(kind, {}), (
                        f"{kustomization} {obj['kind']}/{obj['metadata']['name']} {label}: "
                        f"no {kind}.{resource}"
                    )
            if "securityContext" not in container:
                pytest.fail(f"{kustomization} {label}: no securityContext")


def test_no_secrets_in_the_repo() -> None:
    for kustomization, obj in all_objects():
        assert obj["kind"] != "Secret", f"{kustomization}: a Secret object"
        for _, pod in pod_specs(obj):
            for container in containers(pod):
                for env in container.get("env", []):
                    if re.search(r"TOKEN|PASSWORD|SECRET|KEY|CREDENTIAL", env["name"]):
                        assert "value" not in env, f"{kustomization}: literal {env['name']}"
    for path in K8S.rglob("*.yaml"):
        text = path.read_text()
        assert "secretGenerator" not in text, path
        assert "PRIVATE KEY" not in text, path
        assert '"type": "service_account"' not in text, path  # a Google key file


def test_launcher_rbac_is_exactly_rayjobs_in_its_namespace() -> None:
    for kustomization in ("base", "overlays/dev", "overlays/gke"):
        objs = render(kustomization)
        kinds = {o["kind"] for o in objs}
        assert not kinds & {"ClusterRole", "ClusterRoleBinding"}, kustomization
        role = _one(objs, "Role")
        rules = role["rules"]
        assert len(rules) == 1
        assert rules[0]["apiGroups"] == ["ray.io"]
        assert rules[0]["resources"] == ["rayjobs"]
        assert set(rules[0]["verbs"]) == LAUNCHER_VERBS
        assert len(rules[0]["verbs"]) == len(LAUNCHER_VERBS)
        assert "resourceNames" not in rules[0]
        assert "nonResourceURLs" not in rules[0]
        binding = _one(objs, "RoleBinding")
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                      "name": role["metadata"]["name"]}  # fmt: skip
        namespace = _one(objs, "Namespace")["metadata"]["name"]
        assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == namespace
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "musicgen-launcher", "namespace": namespace}
        ]
        cron_pod = _one(objs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert cron_pod["serviceAccountName"] == "musicgen-launcher"
        # No other pod holds the launcher's permissions.
        for obj in [*objs, generation_rayjob(objs)]:
            if obj["kind"] in ("RayCluster", "RayJob"):
                for where, pod in pod_specs(obj):
                    assert pod.get("serviceAccountName") == "musicgen-ray", where


# -- versions, images, GPUs ----------------------------------------------------------------------


def test_ray_version_matches_pyproject_and_the_dockerfile() -> None:
    pinned = _pinned_ray()
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert f"ARG RAY_VERSION={pinned}\n" in dockerfile
    for kustomization, obj in all_objects():
        if obj["kind"] == "RayCluster":
            assert obj["spec"]["rayVersion"] == pinned, kustomization
        if obj["kind"] == "RayJob":
            assert obj["spec"]["rayClusterSpec"]["rayVersion"] == pinned, kustomization


def _images(objs: list[dict[str, Any]]) -> set[str]:
    images = set()
    for obj in objs:
        for _, pod in pod_specs(obj):
            images |= {c["image"] for c in containers(pod)}
    return images


@pytest.mark.parametrize(("platform", "jobs"), PLATFORM_AND_JOBS)
def test_one_image_per_overlay(platform: str, jobs: str) -> None:
    images = _images(with_generation(platform)) | _images(render(jobs))
    assert len(images) == 1, f"k8s/{platform} + k8s/{jobs} use {sorted(images)}"
    (image,) = images
    if platform == "base":  # the logical name with a tag that says what is inside
        version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
        assert image == f"musicgen:{version}-ray{_pinned_ray()}-cpu"
    cron = _one(render(platform), "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in cron["containers"][0]["env"]}
    assert env["MUSICGEN_IMAGE"] == cron["containers"][0]["image"] == image


def test_gke_pins_the_image_by_digest() -> None:
    for kustomization in ("overlays/gke", "overlays/gke/jobs"):
        for image in _images(with_generation(kustomization)):
            assert DIGEST.search(image), f"k8s/{kustomization}: {image} is not pinned by digest"


def _gpu_groups(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        g
        for g in cluster.get("workerGroupSpecs", [])
        if "nvidia.com/gpu" in g["template"]["spec"]["containers"][0]["resources"].get("limits", {})
    ]


def _check_gpu_group(group: dict[str, Any], where: str) -> None:
    pod = group["template"]["spec"]
    resources = pod["containers"][0]["resources"]
    gpus = int(resources["limits"]["nvidia.com/gpu"])
    assert gpus >= 1
    assert int(resources["requests"]["nvidia.com/gpu"]) == gpus, where
    # Scale-from-zero needs the group's GPUs declared before a pod exists.
    assert group["rayStartParams"].get("num-gpus") == str(gpus), where
    assert "cloud.google.com/gke-accelerator" in pod.get("nodeSelector", {}), where
    assert any(t.get("key") == "nvidia.com/gpu" for t in pod.get("tolerations", [])), where


def test_gke_has_gpu_workers_with_limits_and_scale_from_zero() -> None:
    objs = render("overlays/gke")
    cluster = _one(objs, "RayCluster")["spec"]
    (group,) = _gpu_groups(cluster)
    _check_gpu_group(group, "RayCluster gpu")
    assert cluster["enableInTreeAutoscaling"] is True
    assert group["minReplicas"] == 0
    assert group["replicas"] == 0
    assert group["maxReplicas"] > 0
    (gen_group,) = _gpu_groups(generation_rayjob(objs)["spec"]["rayClusterSpec"])
    _check_gpu_group(gen_group, "generation RayJob")
    train = _one(render("overlays/gke/jobs"), "RayJob", "musicgen-train")
    (train_group,) = _gpu_groups(train["spec"]["rayClusterSpec"])
    _check_gpu_group(train_group, "train RayJob")
    # One Ray Train worker per GPU pod.
    assert f"--num-workers {train_group['replicas']}" in train["spec"]["entrypoint"]
    assert "--use-gpu" in train["spec"]["entrypoint"]


def test_dev_and_base_need_no_gpus() -> None:
    for kustomization in ("base", "base/jobs", "overlays/dev", "overlays/dev/jobs"):
        for obj in with_generation(kustomization):
            assert "nvidia.com/gpu" not in yaml.safe_dump(obj), f"{kustomization}: {obj['kind']}"


def test_gke_uses_workload_identity_for_ray_pods_only() -> None:
    objs = render("overlays/gke")
    ray_sa = _one(objs, "ServiceAccount", "musicgen-ray")
    annotation = ray_sa["metadata"].get("annotations", {}).get("iam.gke.io/gcp-service-account")
    assert annotation
    assert annotation.endswith(".iam.gserviceaccount.com")
    launcher_sa = _one(objs, "ServiceAccount", "musicgen-launcher")
    assert "annotations" not in launcher_sa["metadata"]


# -- RayJob lifecycle and the schedule ---------------------------------------------------------


def test_every_rayjob_cleans_up_and_has_a_deadline() -> None:
    for kustomization, obj in all_objects():
        if obj["kind"] != "RayJob":
            continue
        spec, where = obj["spec"], f"{kustomization} RayJob/{obj['metadata']['name']}"
        assert spec["shutdownAfterJobFinishes"] is True, where
        assert isinstance(spec["ttlSecondsAfterFinished"], int), where
        assert spec["activeDeadlineSeconds"] > 0, where
        assert spec.get("submissionMode", "K8sJobMode") in {"K8sJobMode", "HTTPMode", "SidecarMode"}
        assert "clusterSelector" not in spec, where  # a fresh cluster per run
        assert spec["entrypoint"].startswith("python /home/ray/musicgen/jobs/"), where
        script = spec["entrypoint"].split()[1].rsplit("/", 1)[1]
        if script != "generate_batch.py":  # written later (its interface is fixed)
            assert (REPO / "jobs" / script).is_file(), where


@pytest.mark.parametrize("kustomization", ["base", "overlays/dev", "overlays/gke"])
def test_cronjob_and_launcher_agree(kustomization: str) -> None:
    objs = render(kustomization)
    cronjob = _one(objs, "CronJob")
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["timeZone"] == "Etc/UTC"  # the launcher's slots are UTC
    job = spec["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["musicgen", "schedule-generation"]
    args = launcher.build_parser().parse_args(container["args"])
    period = launcher.parse_duration(args.period)
    offset = launcher.parse_duration(args.offset)
    minute, hour, *rest = spec["schedule"].split()
    assert rest == ["*", "*", "*"], "a daily schedule is what is checked here"
    assert period == 86400
    assert offset == int(hour) * 3600 + int(minute) * 60, "--offset must match the schedule"
    assert 0 < spec["startingDeadlineSeconds"] < period
    # The operator's deadline fires before the launcher gives up, which fires before the Job's.
    timeout = launcher.parse_duration(args.timeout)
    gen = generation_rayjob(objs)
    assert gen["spec"]["activeDeadlineSeconds"] < timeout < job["activeDeadlineSeconds"]
    # Retries stay in their slot: late start + all retries end before the next slot.
    assert spec["startingDeadlineSeconds"] + job["activeDeadlineSeconds"] < period
    # The template is mounted where --template points.
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    (name,) = [n for n, v in volumes.items() if "configMap" in v]
    assert Path(args.template) == Path(mounts[name]) / TEMPLATE_KEY
    configmap = _one(objs, "ConfigMap")
    assert volumes[name]["configMap"]["name"] == configmap["metadata"]["name"]
    assert "{batch_id}" in yaml.safe_load(configmap["data"][TEMPLATE_KEY])["spec"]["entrypoint"]


def test_launcher_dry_run_accepts_every_rendered_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for kustomization in ("base", "overlays/dev", "overlays/gke"):
        configmap = _one(render(kustomization), "ConfigMap")
        path = tmp_path / f"{kustomization.replace('/', '-')}.yaml"
        path.write_text(configmap["data"][TEMPLATE_KEY])
        code = launcher.main(
            ["--schedule=nightly", f"--template={path}", "--namespace=musicgen",
             "--slot=2026-08-20T03:00", "--image=musicgen:x", "--dry-run"]
        )  # fmt: skip
        assert code == 0, capsys.readouterr().err
