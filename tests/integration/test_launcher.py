"""The launcher end to end: the real kubernetes client against a loopback ray.io API server."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from musicgen.schedule import k8s_schema, launcher
from musicgen.schedule.launcher import LauncherConfig, rayjob_name
from tests.fixtures.fake_rayjob_api import (
    FAILURE_PLAN,
    SUCCESS_PLAN,
    FakeRayJobApi,
    kubeconfig_for,
    serve,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "k8s" / "overlays" / "gke" / "rayjob.generate.template.yaml"
SLOT = datetime(2026, 8, 20, 3, 0, tzinfo=UTC)
NAME = "gen-nightly-202608200300"
IMAGE = "us-docker.pkg.dev/p/musicgen/musicgen@sha256:" + "b" * 64


@pytest.fixture
def fake_rayjob_api() -> Iterator[FakeRayJobApi]:
    with serve(k8s_schema.DEFAULT_CRD_DIR) as api:
        yield api


@pytest.fixture
def kubeconfig(fake_rayjob_api: FakeRayJobApi, tmp_path: Path) -> Path:
    return kubeconfig_for(fake_rayjob_api.host, tmp_path / "kubeconfig")


def _cfg(kubeconfig: Path, **overrides: Any) -> LauncherConfig:
    values: dict[str, Any] = {
        "schedule": "nightly",
        "template": TEMPLATE,
        "namespace": "musicgen",
        "period_s": 86400,
        "offset_s": 3 * 3600,
        "slot": SLOT,
        "image": IMAGE,
        "history_limit": 3,
        "poll_interval_s": 1,
        "kubeconfig": str(kubeconfig),
    }
    values.update(overrides)
    return LauncherConfig(**values)


def _run(cfg: LauncherConfig) -> int:
    return launcher.run(cfg, sleep=lambda _: None)  # the fake moves one status step per GET


def test_create_wait_succeed_through_main(fake_rayjob_api: FakeRayJobApi, kubeconfig: Path) -> None:
    code = launcher.main(
        [
            "--schedule=nightly",
            f"--template={TEMPLATE}",
            "--namespace=musicgen",
            "--period=1d",
            "--offset=3h",
            "--slot=2026-08-20T03:00Z",
            f"--image={IMAGE}",
            "--poll-interval=1s",
            f"--kubeconfig={kubeconfig}",
        ]
    )
    assert code == 0
    posts = fake_rayjob_api.calls("POST")
    assert [p.path for p in posts] == ["/apis/ray.io/v1/namespaces/musicgen/rayjobs"]
    body = posts[0].body
    assert body["metadata"]["name"] == NAME
    assert f"--batch-id {NAME} --date 2026-08-20" in body["spec"]["entrypoint"]
    worker = body["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]
    assert worker["containers"][0]["image"] == IMAGE
    # Status is read with plain GETs of the object: the Role grants no rayjobs/status.
    gets = [r.path for r in fake_rayjob_api.calls("GET")]
    assert f"/apis/ray.io/v1/namespaces/musicgen/rayjobs/{NAME}" in gets
    assert not any(p.endswith("/status") for p in gets)
    final = fake_rayjob_api.objects[("musicgen", NAME)]["status"]
    assert final == SUCCESS_PLAN[-1]


def test_failed_job_exits_1(
    fake_rayjob_api: FakeRayJobApi, kubeconfig: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_rayjob_api.plan = list(FAILURE_PLAN)
    assert _run(_cfg(kubeconfig)) == 1
    assert "AppFailed" in caplog.text


def test_rerun_of_the_same_slot_gets_409_and_attaches(
    fake_rayjob_api: FakeRayJobApi, kubeconfig: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_rayjob_api.plan = [SUCCESS_PLAN[0], SUCCESS_PLAN[1], SUCCESS_PLAN[1], SUCCESS_PLAN[2]]
    first = launcher.make_api(_cfg(kubeconfig))
    # An earlier try created the RayJob and died while it was still running.
    jobs = launcher.RayJobs(first, "musicgen", 5)
    body = launcher.build_rayjob(launcher.load_template(TEMPLATE), _cfg(kubeconfig), SLOT)
    launcher.create_or_attach(jobs, body)
    assert fake_rayjob_api.objects[("musicgen", NAME)].get("status") is None

    assert _run(_cfg(kubeconfig)) == 0  # the retry: 409, attach, wait for the same RayJob
    assert len(fake_rayjob_api.objects) == 1
    assert len(fake_rayjob_api.calls("POST")) == 2
    assert "already exists" in caplog.text
    assert _run(_cfg(kubeconfig)) == 0  # a third try finds it finished: done at once


def test_rerun_of_a_failed_slot_reports_the_failure_again(
    fake_rayjob_api: FakeRayJobApi, kubeconfig: Path
) -> None:
    fake_rayjob_api.plan = list(FAILURE_PLAN)
    assert _run(_cfg(kubeconfig)) == 1
    assert _run(_cfg(kubeconfig)) == 1  # never a silent second run of the same slot
    assert len(fake_rayjob_api.objects) == 1


def _earlier(slot: datetime, schedule: str = "nightly", status: str = "Complete") -> dict[str, Any]:
    name = rayjob_name(schedule, slot)
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {
            "name": name,
            "namespace": "musicgen",
            "labels": {
                launcher.SCHEDULE_LABEL: schedule,
                "app.kubernetes.io/managed-by": launcher.MANAGED_BY,
            },
            "annotations": {launcher.SLOT_ANNOTATION: launcher.iso(slot)},
        },
        "spec": {"entrypoint": "python x.py"},
        "status": {"jobDeploymentStatus": status, "jobStatus": "SUCCEEDED"},
    }


def test_prune_keeps_the_history_limit(fake_rayjob_api: FakeRayJobApi, kubeconfig: Path) -> None:
    for days in range(1, 6):  # five finished earlier runs, oldest 5 days ago
        fake_rayjob_api.put(_earlier(SLOT - timedelta(days=days)))
    stuck = _earlier(SLOT - timedelta(days=9), status="Running")
    fake_rayjob_api.put(stuck)  # never pruned: not finished
    other = _earlier(SLOT - timedelta(days=30), schedule="weekly")
    fake_rayjob_api.put(other)  # another schedule's history is not ours

    assert _run(_cfg(kubeconfig, history_limit=3)) == 0
    deleted = [r.path.rsplit("/", 1)[1] for r in fake_rayjob_api.calls("DELETE")]
    assert deleted == [rayjob_name("nightly", SLOT - timedelta(days=d)) for d in (5, 4, 3)]
    names = {name for _, name in fake_rayjob_api.objects}
    assert names == {
        NAME,
        rayjob_name("nightly", SLOT - timedelta(days=1)),
        rayjob_name("nightly", SLOT - timedelta(days=2)),
        stuck["metadata"]["name"],
        other["metadata"]["name"],
    }
    selector = fake_rayjob_api.calls("GET")[-1].query.get("labelSelector")
    assert selector == [
        f"{launcher.SCHEDULE_LABEL}=nightly,app.kubernetes.io/managed-by={launcher.MANAGED_BY}"
    ]


def test_invalid_body_gets_422_from_the_server(
    fake_rayjob_api: FakeRayJobApi, kubeconfig: Path
) -> None:
    from kubernetes.client.exceptions import ApiException

    api = launcher.make_api(_cfg(kubeconfig))
    body = launcher.build_rayjob(launcher.load_template(TEMPLATE), _cfg(kubeconfig), SLOT)
    body["spec"]["shutdownAfterJobFinish"] = True  # the typo strict field validation rejects
    with pytest.raises(ApiException) as info:
        api.create_namespaced_custom_object("ray.io", "v1", "musicgen", "rayjobs", body)
    assert info.value.status == 422
    assert "shutdownAfterJobFinish" in str(info.value.body)
    assert fake_rayjob_api.objects == {}


def test_launcher_refuses_an_invalid_template_before_sending(
    fake_rayjob_api: FakeRayJobApi, kubeconfig: Path, tmp_path: Path
) -> None:
    template = yaml.safe_load(TEMPLATE.read_text())
    broken = copy.deepcopy(template)
    broken["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replica"] = 2
    path = tmp_path / "rayjob.yaml"
    path.write_text(yaml.safe_dump(broken))
    code = launcher.main(
        ["--schedule=nightly", f"--template={path}", "--namespace=musicgen",
         "--slot=2026-08-20T03:00", f"--kubeconfig={kubeconfig}"]
    )  # fmt: skip
    assert code == 2
    assert fake_rayjob_api.requests == []  # nothing reached the API server


def test_deleted_while_waiting_and_timeout_exit_1(
    fake_rayjob_api: FakeRayJobApi, kubeconfig: Path
) -> None:
    fake_rayjob_api.plan = [SUCCESS_PLAN[1]]  # stays Running forever
    assert _run(_cfg(kubeconfig, timeout_s=0.5)) == 1
    fake_rayjob_api.objects.clear()
    fake_rayjob_api.plan = []
    api = launcher.make_api(_cfg(kubeconfig))
    jobs = launcher.RayJobs(api, "musicgen", 5)
    assert (
        launcher.wait_for(jobs, "gen-nightly-gone", _cfg(kubeconfig), sleep=lambda _: None) is False
    )


def test_wrong_credentials_exit_1(
    fake_rayjob_api: FakeRayJobApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = kubeconfig_for(fake_rayjob_api.host, tmp_path / "kc")
    path.write_text(path.read_text().replace("fake-token-for-tests", "wrong"))
    code = launcher.main(
        ["--schedule=nightly", f"--template={TEMPLATE}", "--namespace=musicgen",
         "--slot=2026-08-20T03:00", f"--kubeconfig={path}"]
    )  # fmt: skip
    assert code == 1
    assert "HTTP 401" in capsys.readouterr().err
    assert fake_rayjob_api.objects == {}
