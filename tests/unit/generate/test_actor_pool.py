"""Generation's actor pool: sized from the config and the cluster's autoscaling, never zero."""

from __future__ import annotations

from typing import Any

import pytest

from musicgen.errors import ConfigError
from musicgen.generate.actor_pool import ClusterResources, PoolSize, pool_size, shares_gpu


def size(cluster: ClusterResources, **kw: Any) -> PoolSize:
    args: dict[str, Any] = {"num_actors": None, "num_gpus": 1.0, "calls": 100,
                            "max_gpu_actors": 4} | kw  # fmt: skip
    return pool_size(cluster=cluster, **args)


def test_gpu_group_scaled_to_zero_starts_one_actor_and_grows_to_the_autoscaler_maximum() -> None:
    pool = size(ClusterResources(cpus=4, gpus=0, max_gpus=8))
    assert pool == PoolSize(1, 8, "autoscaler maximum")


def test_fractional_gpus_fit_several_actors_per_gpu() -> None:
    assert size(ClusterResources(cpus=8, gpus=1, max_gpus=3), num_gpus=0.25) == PoolSize(
        4, 12, "autoscaler maximum"
    )
    # 1 / 0.1 is 9.999... in floating point: still 10 actors.
    assert size(ClusterResources(cpus=8, gpus=1, max_gpus=1), num_gpus=0.1).max_size == 10


def test_without_published_limits_the_config_ceiling_applies_or_the_gpus_present() -> None:
    local = ClusterResources(cpus=4, gpus=0)  # a local Ray, or an autoscaler that says nothing
    assert size(local) == PoolSize(1, 4, "max_gpu_actors")
    two, six = ClusterResources(cpus=4, gpus=2), ClusterResources(cpus=4, gpus=6)
    assert size(two, max_gpu_actors=3) == PoolSize(2, 3, "max_gpu_actors")
    assert size(six, max_gpu_actors=3) == PoolSize(6, 6, "GPUs present")


def test_never_more_actors_than_calls() -> None:
    assert size(ClusterResources(cpus=4, gpus=4, max_gpus=16), calls=2) == PoolSize(
        2, 2, "autoscaler maximum"
    )
    assert size(ClusterResources(cpus=4, gpus=0, max_gpus=16), calls=0).max_size == 1


def test_explicit_num_actors_is_a_fixed_pool_even_with_gpus() -> None:
    assert size(ClusterResources(cpus=1, gpus=0, max_gpus=8), num_actors=3) == PoolSize(
        3, 3, "num_actors"
    )


def test_cpu_actors_one_per_cpu_present() -> None:
    assert size(ClusterResources(cpus=6, gpus=2), num_gpus=0.0) == PoolSize(6, 6, "CPUs present")
    assert size(ClusterResources(cpus=0.5, gpus=0), num_gpus=0.0).min_size == 1


def test_a_cluster_that_can_never_have_a_gpu_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"num_gpus=1\.0 per actor.*at most 0"):
        size(ClusterResources(cpus=8, gpus=0, max_gpus=0))
    with pytest.raises(ConfigError, match="num_gpus=2"):
        size(ClusterResources(cpus=8, gpus=1, max_gpus=1), num_gpus=2.0)


def test_only_a_fraction_of_a_gpu_needs_memory_growth() -> None:
    assert [shares_gpu(g) for g in (0.0, 0.25, 0.5, 1.0, 2.0)] == [False, True, True, False, False]


def test_generator_actor_enables_memory_growth_before_loading_a_shared_gpu_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from musicgen.generate import batch, samples

    events: list[str] = []
    monkeypatch.setattr(batch, "enable_memory_growth", lambda: events.append("memory growth"))
    monkeypatch.setattr(samples, "SampleMaker", lambda *a: events.append("model loaded"))
    cfg = {"run": "r", "output": "o"}
    batch.GeneratorActor({**cfg, "num_gpus": 0.5}, "prefix", "b", None)
    assert events == ["memory growth", "model loaded"]
    events.clear()
    batch.GeneratorActor({**cfg, "num_gpus": 1.0}, "prefix", "b", None)
    assert events == ["model loaded"]  # a whole GPU: TensorFlow's default is fine


def test_memory_growth_is_set_on_every_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow as tf

    from musicgen.generate.batch import enable_memory_growth

    set_on: list[str] = []
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind: ["gpu0", "gpu1"])
    monkeypatch.setattr(
        tf.config.experimental, "set_memory_growth", lambda gpu, on: set_on.append(f"{gpu}:{on}")
    )
    assert enable_memory_growth() == 2
    assert set_on == ["gpu0:True", "gpu1:True"]
