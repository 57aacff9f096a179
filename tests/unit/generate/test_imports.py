"""Importing musicgen.generate modules stays light: no TensorFlow, Ray, matplotlib or GCS client."""

from __future__ import annotations

import subprocess
import sys

import pytest

MODULES = ["manifest", "pull", "render", "quality", "samples", "corpus_compare", "heldout",
           "report_html", "review"]  # fmt: skip
HEAVY = ("tensorflow", "ray", "keras", "matplotlib", "google.cloud.storage")


@pytest.mark.parametrize("module", MODULES)
def test_import_is_light(module: str) -> None:
    code = (
        f"import sys, musicgen.generate.{module}; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"musicgen.generate.{module} imported {done.stdout.strip()}"
