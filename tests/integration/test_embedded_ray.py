"""The embedded Ray that the CLI starts: its workers know their cluster and stay quiet."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

# Run in a fresh process: the test session holds its own Ray, and this one must start its own
# beside it, as a user's CLI does next to a `ray start` cluster on the same machine.
SCRIPT = """
import json, logging, os, ray
from musicgen import logs
from musicgen.ray_tasks import init_ray
logs.configure()
init_ray(None, 1)

@ray.remote
def probe():
    import tensorflow  # noqa: F401  (its import noise must be filtered in workers too)
    env = os.environ
    return {"address": env.get("RAY_ADDRESS"), "tf_level": env.get("TF_CPP_MIN_LOG_LEVEL")}

print(json.dumps({"ours": ray.get_runtime_context().gcs_address, **ray.get(probe.remote())}))
ray.shutdown()
"""


def test_workers_name_their_cluster_and_tensorflow_import_is_quiet() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    # Ray Train's placement-group cleaner finds the cluster by RAY_ADDRESS, not a process scan.
    assert seen["address"] == seen["ours"]
    assert seen["tf_level"] in ("2", "3")
    assert "absl::InitializeLog" not in proc.stderr
    assert "cudart_stub" not in proc.stderr or "nvidia" in proc.stderr.lower()
