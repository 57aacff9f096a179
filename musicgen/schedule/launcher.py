"""`musicgen schedule-generation`: one RayJob per schedule slot, created, awaited, pruned.

The CronJob runs this once per tick. A CronJob gives its pod no scheduled time, so the slot is the
current UTC time floored to the schedule's period (shifted by ``--offset``), or ``--slot``. The
RayJob is named ``gen-<schedule>-<YYYYMMDDHHMM>`` after the slot: a retried pod (or a second
launcher racing it) gets 409 AlreadyExists and attaches to the RayJob the first try created,
instead of starting a duplicate run. The launcher then polls the RayJob until it is terminal and
exits 0 (Complete + SUCCEEDED) or 1 (failed, deleted, timed out), so CronJob history shows real
outcomes, and finally deletes finished RayJobs of this schedule beyond ``--history-limit``.

The body comes from a RayJob manifest (mounted from a ConfigMap that kustomize generates per
overlay): the cluster shape (GPU group, tolerations, resources, service account) is deployment
config, reviewed and schema-checked with the other manifests; this module owns only what changes
per slot (name, labels, entrypoint placeholders, image). Every body is validated against the
RayJob CRD (defaults applied, unknown fields rejected) before it is sent.

Only ``get``, ``list``, ``create`` and ``delete`` on ``rayjobs.ray.io`` are used (status is read
from the object itself, not the ``/status`` subresource), matching the CronJob's Role.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from musicgen.errors import EXIT_CONFIG, EXIT_JOB_FAILED, EXIT_OK, ConfigError, MusicgenError
from musicgen.schedule import k8s_schema

log = logging.getLogger("musicgen.schedule")

GROUP, VERSION, PLURAL = "ray.io", "v1", "rayjobs"
SCHEDULE_LABEL = "musicgen.io/schedule"
SLOT_ANNOTATION = "musicgen.io/slot"
MANAGED_BY = "musicgen-schedule-generation"
NAME_PREFIX = "gen-"
SLOT_FORMAT = "%Y%m%d%H%M"
# "gen-" + schedule + "-" + 12 digits must fit KubeRay's 47-character RayJob names.
MAX_SCHEDULE_NAME = k8s_schema.MAX_RAYJOB_NAME - len(NAME_PREFIX) - 1 - 12
FINISHED = frozenset({"Complete", "Failed", "ValidationFailed"})
ENTRYPOINT_TOKENS = ("{batch_id}", "{date}", "{slot}", "{schedule}")
TRANSIENT_HTTP = frozenset({429, 500, 502, 503, 504})
NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class LauncherConfig:
    """One launcher run.

    Attributes:
        schedule: The schedule's name (a DNS label of at most 30 characters), e.g. ``nightly``.
        template: The RayJob manifest the body is built from.
        namespace: Where the RayJobs live.
        period_s: The schedule's period; the slot is now floored to it.
        offset_s: Shift of the slot grid from midnight UTC (``3h`` for a 03:00 daily cron), so
            a late start or retry still falls into the slot of its own tick.
        slot: An explicit slot (UTC); None: from the current time.
        image: Replaces the template's Ray image in every container using it (the CronJob passes
            its own, digest-pinned image); None keeps the template's.
        history_limit: Finished RayJobs of this schedule kept after the run (newest first).
        timeout_s: How long to wait for a terminal status before exiting 1.
        poll_interval_s: Seconds between status reads.
        request_timeout_s: Timeout of each API request.
        kubeconfig: A kubeconfig file; None: in-cluster config when in a pod, else ~/.kube/config.
        context: The kubeconfig context.
        crd_dir: The KubeRay CRD folder (see ``k8s_schema.crd_dir``).
        dry_run: Print the RayJob and exit without contacting the API server.
    """

    schedule: str
    template: Path
    namespace: str
    period_s: int = 86400
    offset_s: int = 0
    slot: datetime | None = None
    image: str | None = None
    history_limit: int = 5
    timeout_s: float = 6 * 3600
    poll_interval_s: float = 30.0
    request_timeout_s: float = 30.0
    kubeconfig: str | None = None
    context: str | None = None
    crd_dir: str | None = None
    dry_run: bool = False

    def __post_init__(self) -> None:
        if len(self.schedule) > MAX_SCHEDULE_NAME or not k8s_schema.DNS1035_LABEL.match(
            self.schedule
        ):
            raise ConfigError(
                f"--schedule {self.schedule!r}: must be a lowercase DNS label "
                f"([a-z]([-a-z0-9]*[a-z0-9])?) of at most {MAX_SCHEDULE_NAME} characters"
            )
        if not self.namespace:
            raise ConfigError("--namespace: empty (set it, or POD_NAMESPACE in the pod)")
        if self.period_s < 60:
            raise ConfigError(f"--period {self.period_s}s: slots are minutes; use at least 1m")
        if not 0 <= self.offset_s < self.period_s:
            raise ConfigError(f"--offset {self.offset_s}s: must be in [0, period)")
        if self.history_limit < 0:
            raise ConfigError(f"--history-limit {self.history_limit}: must be >= 0")
        if self.timeout_s <= 0 or self.poll_interval_s <= 0 or self.request_timeout_s <= 0:
            raise ConfigError("--timeout, --poll-interval and --request-timeout must be > 0")


# -- slots and names ---------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Seconds from ``90``, ``30s``, ``15m``, ``6h``, ``1d`` or combinations like ``1h30m``."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    if not text or _DURATION.sub("", text):
        raise ConfigError(f"duration {text!r}: use N, Ns, Nm, Nh, Nd (e.g. 6h, 1h30m)")
    return sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(text))


def parse_slot(text: str) -> datetime:
    """An ISO 8601 time as an aware UTC datetime (a time without offset is taken as UTC)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"--slot {text!r}: not an ISO 8601 time ({exc})") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def slot_for(now: datetime, period_s: int, offset_s: int = 0) -> datetime:
    """The start of the slot containing ``now``: slots are ``offset + k * period`` since epoch."""
    epoch = int(now.timestamp())
    start = (epoch - offset_s) // period_s * period_s + offset_s
    return datetime.fromtimestamp(start, UTC)


def rayjob_name(schedule: str, slot: datetime) -> str:
    """``gen-<schedule>-<YYYYMMDDHHMM>`` (UTC): the same slot always gives the same name."""
    return f"{NAME_PREFIX}{schedule}-{slot.astimezone(UTC).strftime(SLOT_FORMAT)}"


# -- the body ----------------------------------------------------------------------------------


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


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every container (and init container) of the RayJob's pods, plus the submitter's."""
    pods = []
    cluster = spec.get("rayClusterSpec") or {}
    pods.append(((cluster.get("headGroupSpec") or {}).get("template") or {}).get("spec") or {})
    for group in cluster.get("workerGroupSpecs") or []:
        pods.append((group.get("template") or {}).get("spec") or {})
    pods.append((spec.get("submitterPodTemplate") or {}).get("spec") or {})
    return [c for pod in pods for key in ("initContainers", "containers") for c in pod.get(key, [])]


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
    annotations = {**(meta.get("annotations") or {}), SLOT_ANNOTATION: _iso(slot)}
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
        "{slot}": _iso(slot),
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
    for container in _containers(spec):
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


def _iso(slot: datetime) -> str:
    return slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


# -- the API -----------------------------------------------------------------------------------


class CustomObjects(Protocol):
    """The part of ``kubernetes.client.CustomObjectsApi`` the launcher uses."""

    def create_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any: ...
    def get_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any: ...
    def list_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any: ...
    def delete_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any: ...


class ApiError(MusicgenError):
    """A Kubernetes API call failed; ``status`` is the HTTP status (0: no response)."""

    def __init__(self, action: str, status: int, message: str) -> None:
        super().__init__(f"{action}: HTTP {status or 'n/a'}: {message}")
        self.status = status


class RayJobs:
    """RayJobs in one namespace, with API failures turned into ``ApiError``."""

    def __init__(self, api: CustomObjects, namespace: str, request_timeout_s: float) -> None:
        self.api = api
        self.namespace = namespace
        self.timeout = request_timeout_s

    def _call(self, action: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return method(
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                *args,
                _request_timeout=self.timeout,
                **kwargs,
            )
        except ApiException as exc:
            raise ApiError(action, int(exc.status or 0), _api_message(exc)) from exc
        except (HTTPError, OSError) as exc:
            raise ApiError(action, 0, f"{type(exc).__name__}: {exc}") from exc

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Creates ``body``; 409 raises ApiError(status=409)."""
        name = body["metadata"]["name"]
        return dict(
            self._call(
                f"create {self.namespace}/{name}", self.api.create_namespaced_custom_object, body
            )
        )

    def get(self, name: str) -> dict[str, Any]:
        """The whole object, status included (plain ``get``: no ``rayjobs/status`` permission)."""
        return dict(
            self._call(f"get {self.namespace}/{name}", self.api.get_namespaced_custom_object, name)
        )

    def list(self, selector: str) -> list[dict[str, Any]]:
        """RayJobs matching the label selector."""
        result = self._call(
            f"list {self.namespace} -l {selector}",
            self.api.list_namespaced_custom_object,
            label_selector=selector,
        )
        return list(result.get("items") or [])

    def delete(self, name: str) -> None:
        """Deletes ``name``; its RayCluster and submitter Job are garbage-collected after it."""
        self._call(
            f"delete {self.namespace}/{name}",
            self.api.delete_namespaced_custom_object,
            name,
            propagation_policy="Background",
        )


def _api_message(exc: Any) -> str:
    import json

    try:
        return str(json.loads(exc.body).get("message") or exc.reason)
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason or exc)


def make_api(cfg: LauncherConfig) -> CustomObjects:
    """A CustomObjectsApi from in-cluster config (in a pod, no --kubeconfig) or a kubeconfig."""
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        if cfg.kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)
            source = "in-cluster service account"
        else:
            config.load_kube_config(
                config_file=cfg.kubeconfig, context=cfg.context, client_configuration=configuration
            )
            source = f"kubeconfig {cfg.kubeconfig or '~/.kube/config'}"
    except (config.ConfigException, OSError) as exc:
        raise ConfigError(f"no Kubernetes credentials: {exc}") from exc
    log.info("API server %s (%s)", configuration.host, source)
    api: CustomObjects = client.CustomObjectsApi(client.ApiClient(configuration))
    return api


# -- the run -----------------------------------------------------------------------------------


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
    log.info("schedule %s, slot %s -> RayJob %s/%s", cfg.schedule, _iso(slot), cfg.namespace, name)
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


# -- command line ------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The launcher's options (shared by `musicgen schedule-generation` and ``main``)."""
    parser.add_argument("--schedule", required=True, help="schedule name, e.g. nightly")
    parser.add_argument("--template", required=True, type=Path, help="RayJob manifest (YAML)")
    parser.add_argument(
        "--namespace", default=None, help="namespace (default: $POD_NAMESPACE, the pod's own)"
    )
    parser.add_argument("--period", default="1d", help="schedule period: 1d, 6h, 30m (1d)")
    parser.add_argument("--offset", default="0", help="slot grid offset from 00:00 UTC (0)")
    parser.add_argument("--slot", help="explicit slot, ISO 8601 (UTC if no offset)")
    parser.add_argument("--image", default=None, help="Ray image for the RayJob ($MUSICGEN_IMAGE)")
    parser.add_argument("--history-limit", type=int, default=5, help="finished RayJobs kept (5)")
    parser.add_argument("--timeout", default="6h", help="wait at most this long (6h)")
    parser.add_argument("--poll-interval", default="30s", help="between status reads (30s)")
    parser.add_argument("--request-timeout", default="30s", help="per API request (30s)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster or ~/.kube)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--crd-dir", help=f"KubeRay CRD folder (${k8s_schema.CRD_DIR_ENV})")
    parser.add_argument("--dry-run", action="store_true", help="print the RayJob and exit")


def config_from_args(args: argparse.Namespace) -> LauncherConfig:
    """The typed config of parsed arguments; raises ConfigError on bad values."""
    namespace = args.namespace or os.environ.get("POD_NAMESPACE")
    if not namespace and NAMESPACE_FILE.is_file():
        namespace = NAMESPACE_FILE.read_text(encoding="utf-8").strip()
    return LauncherConfig(
        schedule=args.schedule,
        template=args.template,
        namespace=namespace or "",
        period_s=parse_duration(args.period),
        offset_s=parse_duration(args.offset),
        slot=parse_slot(args.slot) if args.slot else None,
        image=args.image or os.environ.get("MUSICGEN_IMAGE") or None,
        history_limit=args.history_limit,
        timeout_s=parse_duration(args.timeout),
        poll_interval_s=parse_duration(args.poll_interval),
        request_timeout_s=parse_duration(args.request_timeout),
        kubeconfig=args.kubeconfig,
        context=args.context,
        crd_dir=args.crd_dir,
        dry_run=args.dry_run,
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Entry for `musicgen schedule-generation` (errors propagate to the CLI's handler)."""
    return run(config_from_args(args))


def build_parser() -> argparse.ArgumentParser:
    """The standalone parser (``python -m musicgen.schedule.launcher``)."""
    parser = argparse.ArgumentParser(
        prog="musicgen schedule-generation",
        description="Creates this slot's generation RayJob (idempotent), waits for it, prunes "
        "old ones. Exit 0: succeeded; 1: failed or timed out; 2: bad arguments or template.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the launcher and returns the exit code (0, 1 or 2)."""
    from musicgen import logs

    args = build_parser().parse_args(argv)
    logs.configure(args.verbose)
    try:
        return run_from_args(args)
    except ConfigError as exc:
        print(f"musicgen schedule-generation: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except MusicgenError as exc:
        print(f"musicgen schedule-generation: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
