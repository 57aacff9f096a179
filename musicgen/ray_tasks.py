"""Fans picklable tasks out over Ray with bounded memory in flight; the one place that starts Ray.

Used by every driver (conversion, examples): it joins the cluster given by ``address``, the
job's own cluster under ``ray job submit`` (``RAY_ADDRESS``), or starts an embedded local Ray.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from musicgen.logs import VERBOSE_ENV

log = logging.getLogger(__name__)

TaskT = TypeVar("TaskT")
ResultT = TypeVar("ResultT")

# Called when a task's worker keeps dying (Ray's own retries are spent): returns a task to try
# instead, or None to give up, and then `failed(task, message)` accounts for it.
Retry = Callable[[TaskT, BaseException, int], TaskT | None]


def init_ray(address: str | None, num_cpus: int | None) -> bool:
    """Connects to or starts Ray unless it is already up; True if this call started it."""
    import ray

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
    elif os.environ.get("RAY_ADDRESS"):
        ray.init(logging_level=logging.WARNING)  # inside `ray job submit`: the job's cluster
    else:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        verbose = logging.getLogger("musicgen").isEnabledFor(logging.DEBUG)
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            logging_level=logging.WARNING,
            runtime_env={
                "worker_process_setup_hook": "musicgen.logs.ray_worker_setup",
                "env_vars": {VERBOSE_ENV: "1" if verbose else "0"},
            },
        )
    return True


def run_tasks(
    fn: Callable[[TaskT], ResultT],
    tasks: Sequence[TaskT],
    *,
    failed: Callable[[TaskT, str], ResultT],
    retry: Retry[TaskT] | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    max_in_flight_per_cpu: int = 2,
    max_retries: int = 2,
) -> Iterator[ResultT]:
    """Runs ``fn`` on every task as a 1-CPU Ray task and yields results as they finish.

    At most ``max_in_flight_per_cpu`` tasks per cluster CPU are submitted at once, so the
    driver's memory does not grow with the number of tasks. Every task yields exactly one
    result: its own, or ``failed(task, message)`` once its retries are spent.
    """
    import ray

    started_here = init_ray(address, num_cpus)
    try:
        remote = ray.remote(num_cpus=1, max_retries=max_retries)(fn)
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        limit = cpus * max_in_flight_per_cpu
        queue = list(reversed(tasks))
        pending: dict[Any, tuple[TaskT, int]] = {}
        while queue or pending:
            while queue and len(pending) < limit:
                task = queue.pop()
                pending[remote.remote(task)] = (task, 0)
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task, attempt = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayError as exc:
                    replacement = retry(task, exc, attempt) if retry else None
                    if replacement is not None:
                        pending[remote.remote(replacement)] = (replacement, attempt + 1)
                    else:
                        log.error("task failed for good: %s", exc)
                        yield failed(task, f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        if started_here:
            ray.shutdown()
