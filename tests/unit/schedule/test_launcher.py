"""The launcher's pure parts: slots, names, the body, outcomes, attach and prune logic."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from musicgen.errors import ConfigError
from musicgen.schedule import launcher
from musicgen.schedule.launcher import (
    ApiError,
    LauncherConfig,
    RayJobs,
    build_rayjob,
    outcome,
    parse_duration,
    parse_slot,
    rayjob_name,
    slot_for,
)

REPO = Path(__file__).resolve().parents[3]
BASE_TEMPLATE = REPO / "k8s" / "base" / "rayjob.generate.template.yaml"


def _cfg(**overrides: Any) -> LauncherConfig:
    values: dict[str, Any] = {
        "schedule": "nightly",
        "template": BASE_TEMPLATE,
        "namespace": "musicgen",
        "period_s": 86400,
        "offset_s": 3 * 3600,
    }
    values.update(overrides)
    return LauncherConfig(**values)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("30s", 30), ("15m", 900), ("6h", 21600), ("1d", 86400), ("5h30m", 19800)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1w", "h", "1.5h", "-3m", "6 h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="duration"):
        parse_duration(text)


def test_parse_slot_defaults_to_utc_and_converts_offsets() -> None:
    assert parse_slot("2026-08-20T03:00") == datetime(2026, 8, 20, 3, 0, tzinfo=UTC)
    assert parse_slot("2026-08-20T05:00+02:00") == datetime(2026, 8, 20, 3, 0, tzinfo=UTC)
    with pytest.raises(ConfigError, match="ISO 8601"):
        parse_slot("yesterday")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-08-20T03:00:00", "2026-08-20T03:00"),  # on time
        ("2026-08-20T04:59:30", "2026-08-20T03:00"),  # late start or a retry: same slot
        ("2026-08-21T02:59:59", "2026-08-20T03:00"),  # still the same daily slot
        ("2026-08-21T03:00:00", "2026-08-21T03:00"),  # the next tick
    ],
)
def test_slot_is_now_floored_to_the_offset_grid(now: str, expected: str) -> None:
    slot = slot_for(parse_slot(now), period_s=86400, offset_s=3 * 3600)
    assert slot == parse_slot(expected)


def test_slot_for_hourly_schedule() -> None:
    assert slot_for(parse_slot("2026-08-20T10:47:12"), 3600) == parse_slot("2026-08-20T10:00")


def test_name_is_deterministic_and_fits_kuberay() -> None:
    slot = parse_slot("2026-08-20T03:00")
    assert rayjob_name("nightly", slot) == "gen-nightly-202608200300"
    longest = "s" * launcher.MAX_SCHEDULE_NAME
    assert len(rayjob_name(longest, slot)) == 47  # KubeRay's RayJob name limit


@pytest.mark.parametrize("schedule", ["Nightly", "night_ly", "1nightly", "nightly-", "s" * 31])
def test_config_rejects_bad_schedule_names(schedule: str) -> None:
    with pytest.raises(ConfigError, match="--schedule"):
        _cfg(schedule=schedule)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"namespace": ""}, "--namespace"),
        ({"period_s": 30, "offset_s": 0}, "--period"),
        ({"offset_s": 86400}, "--offset"),
        ({"history_limit": -1}, "--history-limit"),
        ({"timeout_s": 0}, "--timeout"),
    ],
)
def test_config_rejects_bad_values(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _cfg(**overrides)


def _template() -> dict[str, Any]:
    return launcher.load_template(BASE_TEMPLATE)


def test_build_rayjob_sets_identity_and_fills_the_entrypoint() -> None:
    slot = parse_slot("2026-08-20T03:00")
    template = _template()
    template["metadata"]["uid"] = "stale"  # server-owned fields must never be sent back
    template["status"] = {"jobStatus": "SUCCEEDED"}
    body = build_rayjob(template, _cfg(), slot)
    meta = body["metadata"]
    assert meta["name"] == "gen-nightly-202608200300"
    assert meta["namespace"] == "musicgen"
    assert set(meta) == {"name", "namespace", "labels", "annotations"}
    assert meta["labels"][launcher.SCHEDULE_LABEL] == "nightly"
    assert meta["labels"]["app.kubernetes.io/component"] == "generate"  # kept from the template
    assert meta["annotations"][launcher.SLOT_ANNOTATION] == "2026-08-20T03:00Z"
    assert "status" not in body
    entry = body["spec"]["entrypoint"]
    assert "--batch-id gen-nightly-202608200300 --date 2026-08-20" in entry
    assert "{" not in entry
    assert template["spec"]["entrypoint"].count("{batch_id}") == 1  # the template is not mutated


def test_build_rayjob_replaces_only_the_ray_image() -> None:
    template = _template()
    pod = template["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]
    pod["containers"].append({"name": "log-shipper", "image": "fluent/fluent-bit:3.2"})
    image = "europe-docker.pkg.dev/p/musicgen/musicgen@sha256:" + "a" * 64
    body = build_rayjob(template, _cfg(image=image), parse_slot("2026-08-20T03:00"))
    images = [c["image"] for c in launcher._containers(body["spec"])]
    assert images.count(image) == 3  # head, worker, submitter
    assert "fluent/fluent-bit:3.2" in images


def test_build_rayjob_requires_batch_id_in_the_entrypoint() -> None:
    template = _template()
    template["spec"]["entrypoint"] = "python jobs/generate_batch.py --output gs://b/generated/x"
    with pytest.raises(ConfigError, match="batch_id"):
        build_rayjob(template, _cfg(), parse_slot("2026-08-20T03:00"))


def test_load_template_rejects_other_kinds(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "batch/v1", "kind": "Job"}))
    with pytest.raises(ConfigError, match="expected kind RayJob"):
        launcher.load_template(path)
    path.write_text("a: [")
    with pytest.raises(ConfigError, match="cannot read"):
        launcher.load_template(path)


def test_validate_body_lists_typos() -> None:
    body = build_rayjob(_template(), _cfg(), parse_slot("2026-08-20T03:00"))
    launcher.validate_body(body)  # the shipped template is valid
    broken = copy.deepcopy(body)
    broken["spec"]["shutdownAfterJobFinish"] = True
    broken["spec"]["activeDeadlineSeconds"] = "5h"
    with pytest.raises(ConfigError) as info:
        launcher.validate_body(broken)
    assert "shutdownAfterJobFinish" in str(info.value)
    assert "spec.activeDeadlineSeconds" in str(info.value)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({}, None),
        ({"jobDeploymentStatus": "Initializing", "jobStatus": "PENDING"}, None),
        ({"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"}, None),
        ({"jobDeploymentStatus": "Retrying", "jobStatus": "FAILED"}, None),  # backoffLimit retry
        ({"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}, True),
        ({"jobDeploymentStatus": "Complete", "jobStatus": "STOPPED"}, False),
        ({"jobDeploymentStatus": "Failed", "jobStatus": "FAILED"}, False),
        ({"jobDeploymentStatus": "Failed", "reason": "DeadlineExceeded"}, False),
        ({"jobDeploymentStatus": "ValidationFailed"}, False),
    ],
)
def test_outcome(status: dict[str, Any], expected: bool | None) -> None:
    assert outcome({"status": status}) is expected


class _MemoryApi:
    """An in-memory CustomObjectsApi double raising the client's real ApiException."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        self.create_errors: list[int] = []

    @staticmethod
    def _error(status: int) -> Exception:
        from kubernetes.client.exceptions import ApiException

        exc = ApiException(status=status, reason="test")
        exc.body = json.dumps({"message": f"HTTP {status} from the test"})
        return exc

    def create_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        body = args[4]
        if self.create_errors:
            raise self._error(self.create_errors.pop(0))
        if body["metadata"]["name"] in self.objects:
            raise self._error(409)
        self.objects[body["metadata"]["name"]] = copy.deepcopy(body)
        return body

    def get_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        name = args[4]
        if name not in self.objects:
            raise self._error(404)
        return copy.deepcopy(self.objects[name])

    def list_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        return {"items": [copy.deepcopy(o) for o in self.objects.values()]}

    def delete_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        self.deleted.append(args[4])
        self.objects.pop(args[4])


def _job(
    name: str, slot: str, schedule: str = "nightly", status: str = "Complete"
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {launcher.SCHEDULE_LABEL: schedule},
            "annotations": {launcher.SLOT_ANNOTATION: slot},
        },
        "status": {"jobDeploymentStatus": status, "jobStatus": "SUCCEEDED"},
    }


def test_create_or_attach_retries_transient_errors_then_attaches_on_409() -> None:
    api = _MemoryApi()
    jobs = RayJobs(api, "musicgen", 5)
    body = build_rayjob(_template(), _cfg(), parse_slot("2026-08-20T03:00"))
    api.create_errors = [503]
    sleeps: list[float] = []
    launcher.create_or_attach(jobs, body, sleep=sleeps.append)
    assert sleeps == [2]
    attached = launcher.create_or_attach(jobs, body, sleep=sleeps.append)
    assert attached["metadata"]["name"] == body["metadata"]["name"]
    assert len(api.objects) == 1


def test_attach_refuses_a_foreign_object_with_the_same_name() -> None:
    api = _MemoryApi()
    body = build_rayjob(_template(), _cfg(), parse_slot("2026-08-20T03:00"))
    api.objects[body["metadata"]["name"]] = _job(body["metadata"]["name"], "x", schedule="other")
    with pytest.raises(ApiError, match="label"):
        launcher.create_or_attach(RayJobs(api, "musicgen", 5), body)


def test_create_reports_forbidden_at_once() -> None:
    api = _MemoryApi()
    api.create_errors = [403]
    body = build_rayjob(_template(), _cfg(), parse_slot("2026-08-20T03:00"))
    with pytest.raises(ApiError, match="HTTP 403"):
        launcher.create_or_attach(RayJobs(api, "musicgen", 5), body, sleep=lambda _: None)


def test_prune_keeps_the_newest_finished_and_everything_running() -> None:
    api = _MemoryApi()
    start = datetime(2026, 8, 1, 3, 0, tzinfo=UTC)
    for day in range(6):
        slot = start + timedelta(days=day)
        name = rayjob_name("nightly", slot)
        api.objects[name] = _job(name, launcher._iso(slot))
    api.objects["gen-nightly-running"] = _job(
        "gen-nightly-running", "2026-07-01T03:00Z", status="Running"
    )
    deleted = launcher.prune(RayJobs(api, "musicgen", 5), _cfg(history_limit=2))
    assert deleted == [rayjob_name("nightly", start + timedelta(days=d)) for d in range(4)]
    assert sorted(api.objects) == [
        "gen-nightly-202608050300",
        "gen-nightly-202608060300",
        "gen-nightly-running",
    ]


def test_wait_times_out_and_treats_deletion_as_failure() -> None:
    api = _MemoryApi()
    api.objects["j"] = _job("j", "s", status="Running")
    jobs = RayJobs(api, "musicgen", 5)
    ticks = iter(range(0, 10_000, 10))
    ok = launcher.wait_for(
        jobs, "j", _cfg(timeout_s=60, poll_interval_s=10), sleep=lambda _: None,
        clock=lambda: float(next(ticks)),
    )  # fmt: skip
    assert ok is False
    assert launcher.wait_for(jobs, "missing", _cfg(), sleep=lambda _: None) is False


def test_launcher_imports_neither_kubernetes_nor_tensorflow_nor_ray() -> None:
    code = (
        "import sys, musicgen.schedule.launcher, musicgen.schedule.k8s_schema; "
        "print(','.join(m for m in ('tensorflow', 'ray', 'kubernetes', 'jsonschema') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_main_dry_run_prints_a_valid_rayjob(capsys: pytest.CaptureFixture[str]) -> None:
    code = launcher.main(
        [
            "--schedule=nightly",
            f"--template={BASE_TEMPLATE}",
            "--namespace=musicgen",
            "--slot=2026-08-20T03:00",
            "--image=musicgen:test",
            "--dry-run",
        ]
    )
    assert code == 0
    body = yaml.safe_load(capsys.readouterr().out)
    assert body["metadata"]["name"] == "gen-nightly-202608200300"
    assert body["spec"]["submitterPodTemplate"]["spec"]["containers"][0]["image"] == "musicgen:test"


def test_main_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--schedule=Bad", f"--template={BASE_TEMPLATE}", "--namespace=m", "--dry-run"]
    assert launcher.main(args) == 2
    assert "--schedule" in capsys.readouterr().err
