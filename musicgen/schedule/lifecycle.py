"""One slot's RayJob from creation to verdict: create or attach, wait, prune, exit code.

The launcher polls the RayJob until it is terminal and returns 0 (Complete + SUCCEEDED) or 1
(failed, deleted, timed out), so CronJob history shows real outcomes, then deletes finished RayJobs
of this schedule beyond ``history_limit``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from musicgen.errors import EXIT_JOB_FAILED, EXIT_OK, ConfigError
from musicgen.schedule.config import LauncherConfig
from musicgen.schedule.rayjob_api import ApiError, CustomObjects, RayJobs, make_api
from musicgen.schedule.rayjob_body import (
    MANAGED_BY,
    SCHEDULE_LABEL,
    SLOT_ANNOTATION,
    build_rayjob,
    load_template,
    validate_body,
)
from musicgen.schedule.slots import iso, slot_for

log = logging.getLogger("musicgen.schedule")

FINISHED = frozenset({"Complete", "Failed", "ValidationFailed"})
TRANSIENT_HTTP = frozenset({429, 500, 502, 503, 504})


def outcome(obj: dict[str, Any]) -> bool | None:
    """True: succeeded; False: failed; None: not finished yet."""
    status = obj.get("status") or {}
    deployment = status.get("jobDeploymentStatus")
    job = status.get("jobStatus")
    if deployment == "Complete":
        return job == "SUCCEEDED"
    if deployment in FINISHED:
        return False
    return None


def _status_text(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    text = f"{status.get('jobDeploymentStatus') or '-'}/{status.get('jobStatus') or '-'}"
    details = " ".join(str(status[k]) for k in ("reason", "message") if status.get(k))
    return f"{text} {details}".strip()


def create_or_attach(
    jobs: RayJobs, body: dict[str, Any], sleep: Callable[[float], None] = time.sleep
) -> dict[str, Any]:
    """Creates the RayJob; on 409 returns the one an earlier try made (if it is ours)."""
    name = body["metadata"]["name"]
    for attempt in range(1, 4):
        try:
            created = jobs.create(body)
            log.info("created RayJob %s/%s", jobs.namespace, name)
            return created
        except ApiError as exc:
            if exc.status == 409:
                existing = jobs.get(name)
                labels = (existing.get("metadata") or {}).get("labels") or {}
                if labels.get(SCHEDULE_LABEL) != body["metadata"]["labels"][SCHEDULE_LABEL]:
                    raise ApiError(
                        f"attach {jobs.namespace}/{name}",
                        409,
                        f"exists but its {SCHEDULE_LABEL} label is {labels.get(SCHEDULE_LABEL)!r}",
                    ) from exc
                log.info(
                    "RayJob %s/%s already exists (created by an earlier try of this slot): "
                    "attaching, status %s",
                    jobs.namespace,
                    name,
                    _status_text(existing),
                )
                return existing
            if exc.status == 422:
                raise ConfigError(f"the API server rejected RayJob {name}: {exc}") from exc
            if (exc.status not in TRANSIENT_HTTP and exc.status != 0) or attempt == 3:
                raise
            log.warning("create failed (%s), retrying in %d s", exc, 2**attempt)
            sleep(2**attempt)
    raise AssertionError("unreachable")


def wait_for(
    jobs: RayJobs,
    name: str,
    cfg: LauncherConfig,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Polls ``name`` until terminal; True on success. Transient API errors are retried."""
    deadline = clock() + cfg.timeout_s
    started = clock()
    last = ""
    while True:
        try:
            obj = jobs.get(name)
        except ApiError as exc:
            if exc.status == 404:
                log.error("RayJob %s/%s was deleted while waiting for it", jobs.namespace, name)
                return False
            if exc.status in (401, 403):
                raise
            log.warning("status read failed (%s); retrying", exc)
        else:
            text = _status_text(obj)
            if text != last:
                log.info("RayJob %s: %s (%.0f s)", name, text, clock() - started)
                last = text
            result = outcome(obj)
            if result is not None:
                return result
        if clock() + cfg.poll_interval_s > deadline:
            log.error(
                "RayJob %s not finished after %.0f s (--timeout); left running, its "
                "activeDeadlineSeconds stops it",
                name,
                cfg.timeout_s,
            )
            return False
        sleep(cfg.poll_interval_s)


def _slot_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (
        (meta.get("annotations") or {}).get(SLOT_ANNOTATION, ""),
        meta.get("creationTimestamp", ""),
    )


def prune(jobs: RayJobs, cfg: LauncherConfig) -> list[str]:
    """Deletes finished RayJobs of this schedule beyond ``history_limit``, oldest first."""
    # The admission policy admits the launcher's deletes only for RayJobs with the schedule label,
    # which this selector guarantees.
    selector = f"{SCHEDULE_LABEL}={cfg.schedule},app.kubernetes.io/managed-by={MANAGED_BY}"
    finished = [
        obj
        for obj in jobs.list(selector)
        if (obj.get("status") or {}).get("jobDeploymentStatus") in FINISHED
    ]
    finished.sort(key=_slot_key)  # the slot annotation sorts chronologically (ISO, UTC)
    excess = finished[: max(len(finished) - cfg.history_limit, 0)]
    deleted = []
    for obj in excess:
        name = obj["metadata"]["name"]
        jobs.delete(name)
        log.info("pruned RayJob %s (%s)", name, _status_text(obj))
        deleted.append(name)
    return deleted


def run(
    cfg: LauncherConfig,
    api: CustomObjects | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Creates (or attaches to) this slot's RayJob, waits, prunes; returns the exit code."""
    slot = cfg.slot or slot_for(now or datetime.now(UTC), cfg.period_s, cfg.offset_s)
    body = build_rayjob(load_template(cfg.template), cfg, slot)
    validate_body(body, cfg.crd_dir)
    name = body["metadata"]["name"]
    log.info("schedule %s, slot %s -> RayJob %s/%s", cfg.schedule, iso(slot), cfg.namespace, name)
    if cfg.dry_run:
        import yaml

        sys.stdout.write(yaml.safe_dump(body, sort_keys=False))
        return EXIT_OK
    jobs = RayJobs(api or make_api(cfg), cfg.namespace, cfg.request_timeout_s)
    create_or_attach(jobs, body, sleep)
    succeeded = wait_for(jobs, name, cfg, sleep=sleep)
    try:
        prune(jobs, cfg)
    except ApiError as exc:
        # The run's own result stands; a failed prune is retried by the next tick.
        log.error("pruning old RayJobs failed: %s", exc)
    if succeeded:
        log.info("RayJob %s succeeded", name)
        return EXIT_OK
    log.error(
        "RayJob %s failed; inspect: kubectl -n %s describe rayjob %s", name, cfg.namespace, name
    )
    return EXIT_JOB_FAILED
