"""checkov over the rendered overlays: no failed check, and every skip says why beside its manifest.

checkov runs from its own virtual environment (tests/tools/checkov.txt says why it cannot share
.venv); the first run makes it (about a minute, from PyPI). ``$MUSICGEN_CHECKOV`` names another
checkov executable. checkov scans the built-in kinds (the CronJob, Roles, NetworkPolicies, the
admission policy); RayCluster and RayJob pods are checked by test_pod_security.py instead.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.k8s_manifests import K8S, REPO, render_text

pytestmark = pytest.mark.integration

OVERLAYS = ["overlays/dev", "overlays/dev/jobs", "overlays/gke", "overlays/gke/jobs"]
TOOL_VENV = REPO / ".venv" / "tools" / "checkov"
REQUIREMENTS = REPO / "tests" / "tools" / "checkov.txt"
SKIP_ANNOTATION = re.compile(r"^checkov\.io/skip\d+$")


@pytest.fixture(scope="session")
def checkov() -> Path:
    """The checkov executable, installed into TOOL_VENV on first use."""
    explicit = os.environ.get("MUSICGEN_CHECKOV")
    if explicit:
        return Path(explicit)
    executable = TOOL_VENV / "bin" / "checkov"
    if not executable.exists():
        steps = [
            [sys.executable, "-m", "venv", str(TOOL_VENV)],
            [str(TOOL_VENV / "bin" / "pip"), "install", "-q", "-r", str(REQUIREMENTS)],
        ]
        for step in steps:
            proc = subprocess.run(step, capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                pytest.fail(f"installing checkov failed ({' '.join(step)}):\n{proc.stderr[-3000:]}")
    return executable


def _run(checkov: Path, folder: Path, framework: str) -> dict[str, Any]:
    proc = subprocess.run(
        [str(checkov), "-d", str(folder), "--framework", framework, "-o", "json",
         "--skip-download"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},  # no network: no Prisma Cloud metadata
    )  # fmt: skip
    # Exit 1 means failed checks; anything else non-zero is checkov itself failing.
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        pytest.fail(f"checkov exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    assert len(reports) == 1, [r.get("check_type") for r in reports]
    return reports[0]


def test_checkov_passes_every_overlay(checkov: Path, tmp_path: Path) -> None:
    for overlay in OVERLAYS:
        (tmp_path / f"{overlay.replace('/', '-')}.yaml").write_text(render_text(overlay))
    report = _run(checkov, tmp_path, "kubernetes")
    results = report["results"]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
              for c in results["failed_checks"]]  # fmt: skip
    assert failed == [], "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 100  # it really looked at the manifests
    for check in results["skipped_checks"]:
        reason = (check.get("check_result") or {}).get("suppress_comment") or ""
        assert len(reason.split()) >= 4, f"{check['check_id']} {check['resource']}: no reason"


def test_checkov_passes_the_dockerfile(checkov: Path) -> None:
    dockerfile = REPO / "docker" / "Dockerfile"
    proc = subprocess.run(
        [str(checkov), "-f", str(dockerfile), "--framework", "dockerfile", "-o", "json",
         "--skip-download"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    failed = [f"{c['check_id']}: {c['check_name']}" for c in report["results"]["failed_checks"]]
    assert failed == [], "\n".join(failed)
    assert report["summary"]["passed"] >= 5  # it really read the Dockerfile
    skip_lines = [line for line in dockerfile.read_text().splitlines() if "checkov:skip=" in line]
    for line in skip_lines:  # each skip carries its reason on the same line
        check, _, reason = line.partition("checkov:skip=")[2].partition(":")
        assert re.fullmatch(r"CKV2?_DOCKER_\d+", check), line
        assert len(reason.split()) >= 4, f"no reason: {line}"


def test_every_skip_annotation_gives_a_one_line_reason() -> None:
    import yaml

    found = 0
    for path in K8S.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict):
                continue
            annotations = (doc.get("metadata") or {}).get("annotations") or {}
            for key, value in annotations.items():
                if SKIP_ANNOTATION.match(key):
                    check, _, reason = value.partition("=")
                    assert re.fullmatch(r"CKV2?_K8S_\d+", check), f"{path}: {key}"
                    assert len(reason.split()) >= 4, f"{path}: {key}: no reason"
                    assert "\n" not in reason, f"{path}: {key}: more than one line"
                    found += 1
    assert found >= 1
