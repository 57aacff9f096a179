"""Outcomes, create-or-attach, waiting and pruning (musicgen.schedule.lifecycle)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from musicgen.schedule import lifecycle, rayjob_body, slots
from musicgen.schedule.lifecycle import outcome
from musicgen.schedule.rayjob_api import ApiError, RayJobs
from musicgen.schedule.rayjob_body import build_rayjob
from musicgen.schedule.slots import parse_slot, rayjob_name
from tests.unit.schedule.support import base_template, make_config


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
            "labels": {rayjob_body.SCHEDULE_LABEL: schedule},
            "annotations": {rayjob_body.SLOT_ANNOTATION: slot},
        },
        "status": {"jobDeploymentStatus": status, "jobStatus": "SUCCEEDED"},
    }


def test_create_or_attach_retries_transient_errors_then_attaches_on_409() -> None:
    api = _MemoryApi()
    jobs = RayJobs(api, "musicgen", 5)
    body = build_rayjob(base_template(), make_config(), parse_slot("2026-08-20T03:00"))
    api.create_errors = [503]
    sleeps: list[float] = []
    lifecycle.create_or_attach(jobs, body, sleep=sleeps.append)
    assert sleeps == [2]
    attached = lifecycle.create_or_attach(jobs, body, sleep=sleeps.append)
    assert attached["metadata"]["name"] == body["metadata"]["name"]
    assert len(api.objects) == 1


def test_attach_refuses_a_foreign_object_with_the_same_name() -> None:
    api = _MemoryApi()
    body = build_rayjob(base_template(), make_config(), parse_slot("2026-08-20T03:00"))
    api.objects[body["metadata"]["name"]] = _job(body["metadata"]["name"], "x", schedule="other")
    with pytest.raises(ApiError, match="label"):
        lifecycle.create_or_attach(RayJobs(api, "musicgen", 5), body)


def test_create_reports_forbidden_at_once() -> None:
    api = _MemoryApi()
    api.create_errors = [403]
    body = build_rayjob(base_template(), make_config(), parse_slot("2026-08-20T03:00"))
    with pytest.raises(ApiError, match="HTTP 403"):
        lifecycle.create_or_attach(RayJobs(api, "musicgen", 5), body, sleep=lambda _: None)


def test_prune_keeps_the_newest_finished_and_everything_running() -> None:
    api = _MemoryApi()
    start = datetime(2026, 8, 1, 3, 0, tzinfo=UTC)
    for day in range(6):
        slot = start + timedelta(days=day)
        name = rayjob_name("nightly", slot)
        api.objects[name] = _job(name, slots.iso(slot))
    api.objects["gen-nightly-running"] = _job(
        "gen-nightly-running", "2026-07-01T03:00Z", status="Running"
    )
    deleted = lifecycle.prune(RayJobs(api, "musicgen", 5), make_config(history_limit=2))
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
    ok = lifecycle.wait_for(
        jobs, "j", make_config(timeout_s=60, poll_interval_s=10), sleep=lambda _: None,
        clock=lambda: float(next(ticks)),
    )  # fmt: skip
    assert ok is False
    assert lifecycle.wait_for(jobs, "missing", make_config(), sleep=lambda _: None) is False
