"""One real `ray start --head` on loopback for the e2e tests, started after the GCS emulator so
that its raylet, job drivers and workers all reach the emulator (as pods reach GCS on GKE)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class RayHead:
    """``address``: the job API (dashboard); ``gcs_address``: what ``ray.init`` joins."""

    address: str
    gcs_address: str
    env: dict[str, str]


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture(scope="session")
def ray_head(gcs_emulator: object) -> Iterator[RayHead]:
    """A head node with its own ports and temp dir; `ray stop` at the end, whatever happened."""
    temp = tempfile.mkdtemp(prefix="rh", dir="/tmp")  # short: Ray's Unix socket paths are limited
    env = {
        **os.environ,  # STORAGE_EMULATOR_HOST included
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",  # the job's `python` is the venv's
        "RAY_AUTH_MODE": "disabled",  # explicit for head and clients; see platform notes §3
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    gcs, dash, client, agent, agent_grpc, rt_env, metrics, om, nm = free_ports(9)
    start = [
        str(BIN / "ray"), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs}",
        "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", "--include-dashboard=true",
        f"--ray-client-server-port={client}", f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={agent_grpc}", f"--runtime-env-agent-port={rt_env}",
        f"--metrics-export-port={metrics}", f"--object-manager-port={om}",
        f"--node-manager-port={nm}", "--num-cpus=2", "--disable-usage-stats",
        f"--temp-dir={temp}",
    ]  # fmt: skip
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=120)
    try:
        yield RayHead(f"http://127.0.0.1:{dash}", f"127.0.0.1:{gcs}", env)
    finally:
        subprocess.run(
            [str(BIN / "ray"), "stop", "--force"], env=env, capture_output=True, timeout=120
        )
        shutil.rmtree(temp, ignore_errors=True)


def submit_command(head: RayHead, script: str, *job_args: str) -> list[str]:
    """`ray job submit` of ``jobs/<script>`` with the repository as its working dir."""
    name = Path(script).stem.replace("_", "-")
    return [
        str(BIN / "ray"), "job", "submit", "--address", head.address,
        "--submission-id", f"{name}-{uuid.uuid4().hex[:8]}", "--working-dir", str(REPO),
        "--", "python", script, *job_args,
    ]  # fmt: skip


def submit(
    head: RayHead, *job_args: str, script: str = "jobs/convert_corpus.py"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        submit_command(head, script, *job_args),
        env=head.env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
