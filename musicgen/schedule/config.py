"""`LauncherConfig`: one launcher run's settings, checked when built."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from musicgen.errors import ConfigError
from musicgen.schedule import k8s_schema
from musicgen.schedule.slots import MAX_SCHEDULE_NAME


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
