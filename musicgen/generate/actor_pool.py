"""How many generator actors a batch gets: a pure function of the config and the cluster.

A GPU node group that scales from zero has no GPUs when the job starts, so a pool sized by the
GPUs present would be empty (or one actor that never has company). So a GPU pool autoscales
(Ray Data's ``ActorPoolStrategy(min_size, max_size)``): it starts with the actors the cluster
fits now, and at least one, whose pending GPU request is what makes the autoscaler add a GPU
node; it may grow to as many as the cluster can ever hold, which is

* the autoscaler's maximum resources, where Ray publishes them (KubeRay's and the cluster
  launcher's autoscalers report their node groups' ``maxReplicas`` to the GCS), else
* ``max_gpu_actors`` from the config (or the GPUs present, if more).

Ray Data adds actors only as resources appear, so a ceiling the cluster never reaches costs
nothing. CPU actors keep one per CPU present; an explicit ``num_actors`` is a fixed pool. No pool
is larger than the batch's number of actor calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from musicgen.errors import ConfigError

# A resource count divided by a fraction (1.0 / 0.1) can land just below the whole number.
_EPS = 1e-6


@dataclass(frozen=True)
class ClusterResources:
    """What the cluster has now, and the most GPUs its autoscaler may give it.

    Attributes:
        cpus: CPUs in the cluster now.
        gpus: GPUs in the cluster now (0 on a GPU group scaled to zero).
        max_gpus: The autoscaler's GPU ceiling; None where it is not published (a local Ray).
    """

    cpus: float
    gpus: float
    max_gpus: float | None = None


@dataclass(frozen=True)
class PoolSize:
    """An actor pool's bounds, and what the upper one came from (for the log)."""

    min_size: int
    max_size: int
    basis: str


def _fits(resources: float, per_actor: float) -> int:
    return math.floor(resources / per_actor + _EPS)


def pool_size(
    *,
    num_actors: int | None,
    num_gpus: float,
    calls: int,
    cluster: ClusterResources,
    max_gpu_actors: int,
) -> PoolSize:
    """The pool for a batch of ``calls`` actor calls (see the module docstring).

    Args:
        num_actors: The config's fixed pool size, or None to size from the cluster.
        num_gpus: GPUs per actor (0: CPU actors; a fraction shares a GPU).
        calls: Actor calls the batch needs (pieces / batch size, rounded up).
        cluster: The cluster's resources.
        max_gpu_actors: GPU pool ceiling when the autoscaler publishes none.

    Raises:
        ConfigError: GPU actors on a cluster whose autoscaler can never provide one GPU's share.
    """
    calls = max(1, calls)
    if num_actors is not None:
        size = max(1, min(num_actors, calls))
        return PoolSize(size, size, "num_actors")
    if num_gpus <= 0:
        size = max(1, min(_fits(cluster.cpus, 1.0), calls))
        return PoolSize(size, size, "CPUs present")
    now = _fits(cluster.gpus, num_gpus)
    if cluster.max_gpus is not None:
        ceiling, basis = _fits(cluster.max_gpus, num_gpus), "autoscaler maximum"
        if max(ceiling, now) == 0:
            raise ConfigError(
                f"generate: num_gpus={num_gpus} per actor, but this cluster has "
                f"{cluster.gpus:g} GPUs and its autoscaler can add at most {cluster.max_gpus:g}"
            )
    else:
        ceiling, basis = max_gpu_actors, "max_gpu_actors"
    if now > ceiling:
        ceiling, basis = now, "GPUs present"
    upper = max(1, min(ceiling, calls))
    return PoolSize(max(1, min(now, upper)), upper, basis)


def shares_gpu(num_gpus: float) -> bool:
    """Whether an actor gets a fraction of a GPU, so that TensorFlow must not take all of its
    memory at start (its default), which would leave none for the actors beside it."""
    return 0 < num_gpus < 1
