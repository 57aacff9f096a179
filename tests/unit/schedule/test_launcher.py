"""The command line (musicgen.schedule.launcher) and what importing the package pulls in."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from musicgen.schedule import launcher
from tests.unit.schedule.support import BASE_TEMPLATE


def test_launcher_imports_neither_kubernetes_nor_tensorflow_nor_ray() -> None:
    code = (
        "import sys, musicgen.schedule.launcher, musicgen.schedule.k8s_schema, "
        "musicgen.schedule.lifecycle, musicgen.schedule.rayjob_api; "
        "print(','.join(m for m in ('tensorflow', 'ray', 'kubernetes', 'jsonschema') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_main_dry_run_prints_a_valid_rayjob(capsys: pytest.CaptureFixture[str]) -> None:
    code = launcher.main(
        [
            "--schedule=nightly",
            f"--template={BASE_TEMPLATE}",
            "--namespace=musicgen",
            "--slot=2026-08-20T03:00",
            "--image=musicgen:test",
            "--dry-run",
        ]
    )
    assert code == 0
    body = yaml.safe_load(capsys.readouterr().out)
    assert body["metadata"]["name"] == "gen-nightly-202608200300"
    assert body["spec"]["submitterPodTemplate"]["spec"]["containers"][0]["image"] == "musicgen:test"


def test_main_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--schedule=Bad", f"--template={BASE_TEMPLATE}", "--namespace=m", "--dry-run"]
    assert launcher.main(args) == 2
    assert "--schedule" in capsys.readouterr().err
