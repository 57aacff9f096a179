"""The interop modules and their CLI import no TensorFlow, Ray or Keras until they run."""

from __future__ import annotations

import subprocess
import sys

import pytest

MODULES = [
    "musicgen.cli_magenta",
    "musicgen.interop.errors",
    "musicgen.interop.magenta_bundle",
    "musicgen.interop.magenta_checkpoint",
    "musicgen.interop.magenta_weights",
    "musicgen.interop.magenta_import",
    "musicgen.interop.magenta_export",
    "musicgen.train.init_from",
]


@pytest.mark.parametrize("module", MODULES)
def test_import_is_light(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "print(','.join(m for m in ('tensorflow', 'ray', 'keras') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"importing {module} imported {out}"
