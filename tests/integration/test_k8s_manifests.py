"""Every kustomization under k8s/ rendered, schema-validated and checked for the security rules.

No API server runs here, so: `kubectl kustomize` renders, `kubernetes-validate` (bundled
offline schemas, strict) checks built-in kinds, the KubeRay CRDs (defaults applied, unknown fields
rejected) check RayCluster/RayJob, and the rules the issue asks for are plain code below. The
generation RayJob is checked as the launcher would send it (built from the ConfigMap template).
The identities are checked against the README's table, the admission policy is run with
cel-python (tests/fixtures/admission.py) and the NetworkPolicies with a model of their semantics
(tests/fixtures/network_policy.py); Pod Security and checkov have their own files.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from musicgen.schedule import k8s_schema, launcher
from tests.fixtures.k8s_manifests import (
    K8S,
    KUSTOMIZATIONS,
    REPO,
    TEMPLATE_KEY,
    all_objects,
    containers,
    generation_rayjob,
    pod_specs,
    pod_templates,
    render,
    render_text,
    with_generation,
)
from tests.fixtures.k8s_manifests import one as _one

pytestmark = pytest.mark.integration

PLATFORM_AND_JOBS = [("base", "base/jobs"), ("overlays/dev", "overlays/dev/jobs"),
                     ("overlays/gke", "overlays/gke/jobs")]  # fmt: skip
K8S_VERSION = "1.33"  # GKE's regular channel; kubernetes-validate 1.37.0 bundles 1.25 to 1.37
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _pinned_ray() -> str:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        match = re.fullmatch(r"ray(\[[^\]]*\])?==([\w.]+)", dep.replace(" ", ""))
        if match:
            return match[2]
    raise AssertionError("pyproject.toml pins no ray==X.Y.Z")


# -- rendering and schemas ---------------------------------------------------------------------


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_renders_with_the_expected_kinds(kustomization: str) -> None:
    kinds = sorted(o["kind"] for o in render(kustomization))
    if kustomization.endswith("jobs"):
        assert kinds == ["RayJob"] * 3
    else:
        assert kinds == sorted(["ConfigMap", "CronJob", "Namespace", "RayCluster", "Role",
                                "RoleBinding", "ServiceAccount", "ServiceAccount",
                                "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
                                *["NetworkPolicy"] * 7])  # fmt: skip


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
    crds = k8s_schema.DEFAULT_CRD_DIR
    checked = 0
    for obj in with_generation(kustomization):
        if obj["apiVersion"].startswith("ray.io/"):
            _, errors = k8s_schema.validate_custom_object(obj, crds)
            assert errors == [], f"k8s/{kustomization}: {obj['kind']}/{obj['metadata']['name']}"
            checked += 1
    assert checked == (3 if kustomization.endswith("jobs") else 2)  # incl. the generation RayJob


@pytest.mark.parametrize(
    ("kind", "name", "typo"),
    [
        ("CronJob", None, "concurrencyPolicyy"),
        # The new kinds have real schemas too (kubernetes-validate ships admissionregistration
        # and networking for every version it bundles), not a pass-through.
        ("ValidatingAdmissionPolicy", None, "matchConditionss"),
        ("ValidatingAdmissionPolicyBinding", None, "validationAction"),
        ("NetworkPolicy", "default-deny", "policyType"),
    ],
)
def test_strict_validation_would_catch_a_typo(kind: str, name: str | None, typo: str) -> None:
    import kubernetes_validate

    obj = _one(render("base"), kind, name)
    obj["spec"][typo] = []
    with pytest.raises(kubernetes_validate.ValidationError, match=typo):
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


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


def _readme_identities() -> dict[str, list[str]]:
    """The README's identity table: name -> its cells (RBAC, admission, token, cloud)."""
    lines = (REPO / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Identity |"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[re.findall(r"`([^`]+)`", cells[0])[0]] = cells[1:]
    return rows


def _documented_rbac(cell: str) -> set[tuple[str, str, str]]:
    """``ray.io`` ``rayjobs``: ``create`` ... as (group, resource, verb); "none ..." as empty."""
    if cell.startswith("none"):
        return set()
    group, resource, *verbs = re.findall(r"`([^`]+)`", cell.split(";")[0])
    return {(group, resource, verb) for verb in verbs}


def _granted(objs: list[dict[str, Any]], account: str) -> set[tuple[str, str, str]]:
    roles = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Role"}
    granted = set()
    for binding in (o for o in objs if o["kind"] == "RoleBinding"):
        if not any(s["kind"] == "ServiceAccount" and s["name"] == account
                   for s in binding["subjects"]):  # fmt: skip
            continue
        assert binding["roleRef"]["kind"] == "Role", binding["metadata"]["name"]
        for rule in roles[binding["roleRef"]["name"]]["rules"]:
            assert "resourceNames" not in rule
            assert "nonResourceURLs" not in rule
            granted |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"]
                        for v in rule["verbs"]}  # fmt: skip
    return granted


def _token_mounts(objs: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(service account, container) for every container that gets a service-account token."""
    found = set()
    for obj in objs:
        autoscaler = obj["spec"].get("autoscalerOptions") if obj["kind"] == "RayCluster" else None
        for where, pod in pod_specs(obj):
            account = pod.get("serviceAccountName", "default")
            token_volumes = {
                v["name"]
                for v in pod.get("volumes", [])
                if any(
                    "serviceAccountToken" in src
                    for src in v.get("projected", {}).get("sources", [])
                )
            }
            mounting = [*containers(pod)]
            if autoscaler and where.endswith(" head"):
                mounting.append({"name": "autoscaler", **autoscaler})
            for container in mounting:
                names = {m["name"] for m in container.get("volumeMounts", [])}
                if pod.get("automountServiceAccountToken", True) or names & token_volumes:
                    found.add((account, container["name"]))
    return found


def test_readme_identity_table_is_what_the_manifests_grant() -> None:
    table = _readme_identities()
    assert set(table) == {"musicgen-launcher", "musicgen-ray"}
    for kustomization in ("base", "overlays/dev", "overlays/gke"):
        objs = with_generation(kustomization)
        kinds = {o["kind"] for o in objs}
        assert not kinds & {"ClusterRole", "ClusterRoleBinding"}, kustomization
        namespace = _one(objs, "Namespace")["metadata"]["name"]
        for obj in objs:
            if obj["kind"] in ("Role", "RoleBinding"):
                assert obj["metadata"]["namespace"] == namespace
            if obj["kind"] == "RoleBinding":
                assert all(s.get("namespace") == namespace for s in obj["subjects"])
        documented_tokens = set()
        for account, (rbac, _, token, _) in table.items():
            assert _granted(objs, account) == _documented_rbac(rbac), f"{kustomization} {account}"
            documented_tokens.add((account, re.findall(r"`([^`]+)`", token)[0]))
        assert _token_mounts(objs) == documented_tokens, kustomization
        assert _token_mounts(render(f"{kustomization}/jobs")) == set(), kustomization
        for account in table:
            sa = _one(objs, "ServiceAccount", account)
            assert sa["automountServiceAccountToken"] is False, account
        cron_pod = _one(objs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert cron_pod["serviceAccountName"] == "musicgen-launcher"
        # No other pod holds the launcher's permissions.
        for obj in objs:
            if obj["kind"] in ("RayCluster", "RayJob"):
                for where, pod in pod_specs(obj):
                    assert pod.get("serviceAccountName") == "musicgen-ray", where


@pytest.mark.parametrize("kustomization", ["base", "overlays/dev", "overlays/gke"])
def test_admission_policy_admits_exactly_the_launchers_rayjob(kustomization: str) -> None:
    from tests.fixtures.admission import Policy, service_account

    objs = render(kustomization)
    namespace = _one(objs, "Namespace")["metadata"]["name"]
    policy = Policy(_one(objs, "ValidatingAdmissionPolicy"))
    binding = _one(objs, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == policy.manifest["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert policy.manifest["spec"]["failurePolicy"] == "Fail"
    launcher_user = service_account(namespace, "musicgen-launcher")
    # kustomize copied this overlay's image and namespace into the CEL.
    image = _one(objs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][
        0
    ]["image"]
    variables = {v["name"]: v["expression"] for v in policy.manifest["spec"]["variables"]}
    assert variables["image"] == f"'{image}'"
    (condition,) = policy.manifest["spec"]["matchConditions"]
    assert f"'{launcher_user}'" in condition["expression"]

    body, errors = k8s_schema.validate_custom_object(generation_rayjob(objs))
    assert errors == []
    assert policy.evaluate("CREATE", launcher_user, obj=body).denials == ()
    assert policy.evaluate("DELETE", launcher_user, old=body).denials == ()
    for job in render(f"{kustomization}/jobs"):
        stored, _ = k8s_schema.validate_custom_object(job)
        assert policy.evaluate("CREATE", launcher_user, obj=stored).denials, job["metadata"]["name"]
        assert policy.evaluate("DELETE", launcher_user, old=stored).denials, job["metadata"]["name"]


def _network(kustomization: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The overlay's NetworkPolicies and its pods' endpoints by role (labels as KubeRay sets)."""
    from tests.fixtures.network_policy import pod

    objs = with_generation(kustomization)
    namespace = _one(objs, "Namespace")["metadata"]["name"]
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    metas = {}
    for obj in objs:
        metas.update(dict(pod_templates(obj)))
    gen = generation_rayjob(objs)["metadata"]["name"]

    def labels(where: str, extra: dict[str, str]) -> dict[str, str]:
        return {**(metas[where].get("labels") or {}), **extra}

    head = {"ray.io/is-ray-node": "yes", "ray.io/node-type": "head"}
    worker = {"ray.io/is-ray-node": "yes", "ray.io/node-type": "worker"}
    endpoints = {
        "long-lived head": pod(labels("RayCluster/musicgen head", head), namespace),
        "long-lived worker": pod(labels("RayCluster/musicgen cpu", worker), namespace),
        "generation head": pod(labels(f"RayJob/{gen} head", head), namespace),
        "generation submitter": pod(labels(f"RayJob/{gen} submitter", {}), namespace),
        "launcher": pod(labels("CronJob/musicgen-generate-nightly", {}), namespace),
        "operator": pod({"app.kubernetes.io/name": "kuberay-operator"}, "ray-system"),
        "kube-dns": pod({"k8s-app": "kube-dns"}, "kube-system"),
        "stranger pod": pod({"app": "other"}, "default"),
    }
    return policies, endpoints


@pytest.mark.parametrize("kustomization", ["base", "overlays/dev", "overlays/gke"])
def test_network_is_closed_by_default(kustomization: str) -> None:
    from tests.fixtures.network_policy import address, allowed

    policies, e = _network(kustomization)
    deny = _one(policies, "NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    open_ = [  # (source, destination, port)
        ("long-lived worker", "long-lived head", 6379),
        ("long-lived head", "long-lived worker", 10002),
        ("generation submitter", "generation head", 8265),
        ("operator", "generation head", 8265),
        ("operator", "long-lived head", 8265),
        ("generation head", "kube-dns", 53),
    ]
    closed = [
        ("long-lived worker", "long-lived head", 8265),  # a driver cannot reach the Jobs API
        ("launcher", "long-lived head", 8265),  # the launcher uses the Kubernetes API only
        ("launcher", "generation head", 6379),
        ("generation submitter", "generation head", 6379),
        ("stranger pod", "long-lived head", 8265),
        ("stranger pod", "long-lived head", 6379),
        ("stranger pod", "generation head", 10001),
        ("generation head", "stranger pod", 80),
    ]
    for source, dest, port in open_:
        assert allowed(policies, e[source], e[dest], port), f"{source} -> {dest}:{port} closed"
    for source, dest, port in closed:
        assert not allowed(policies, e[source], e[dest], port), f"{source} -> {dest}:{port} open"
    for name in ("long-lived head", "generation head", "launcher"):
        assert not allowed(policies, address("203.0.113.9"), e[name], 8265), name
    # Egress outside the cluster: only the Google APIs from Ray pods, only the API server from
    # the token holders; never an arbitrary host on the production overlays.
    internet, google, apiserver = (
        address("203.0.113.9"),
        address("199.36.153.9"),
        address("172.16.0.2"),
    )
    assert allowed(policies, e["generation head"], google, 443)
    assert allowed(policies, e["launcher"], apiserver, 443)
    assert allowed(policies, e["long-lived head"], apiserver, 443)  # the autoscaler
    assert not allowed(policies, e["generation head"], apiserver, 443)
    assert not allowed(policies, e["generation submitter"], google, 443)
    if kustomization != "overlays/dev":  # dev opens public HTTPS (no Private Google Access)
        assert not allowed(policies, e["launcher"], google, 443)
        for name in ("long-lived head", "generation head", "long-lived worker", "launcher"):
            assert not allowed(policies, e[name], internet, 443), name


def test_every_pod_is_labelled_for_the_policies() -> None:
    for _, obj in all_objects():
        for where, meta in pod_templates(obj):
            labels = meta.get("labels") or {}
            if where.endswith(" submitter"):
                assert labels.get("musicgen.io/role") == "ray-submitter", where
            if obj["kind"] == "CronJob":
                assert labels.get("musicgen.io/role") == "launcher", where
            # The API-server egress goes to the token holders only.
            holds_token = obj["kind"] == "CronJob" or (
                obj["kind"] == "RayCluster" and where.endswith(" head")
            )
            assert (labels.get("musicgen.io/kube-api-client") == "true") == holds_token, where


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


@pytest.mark.parametrize("overlay", ["overlays/dev", "overlays/gke"])
def test_no_manifest_points_the_launcher_at_crds_outside_the_package(overlay: str) -> None:
    # The image ships the CRDs as package data (musicgen/schedule/kuberay_crds/); an override
    # naming a folder would point at one the image does not have.
    assert "MUSICGEN_KUBERAY_CRDS" not in render_text(overlay)
