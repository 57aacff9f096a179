"""The family registry: names, lazy imports, unknown names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from musicgen.errors import ConfigError
from musicgen.models.registry import FAMILY_NAMES, get_family
from musicgen.train.config import FAMILIES


def test_names_are_the_configs_families() -> None:
    assert FAMILY_NAMES == FAMILIES


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_get_family_by_name(name: str) -> None:
    family = get_family(name)
    assert family.name == name
    assert family.custom_objects()


def test_unknown_family_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"performance_rnn.*pianoroll_lstm.*biaxial_lstm"):
        get_family("transformer")


def test_registry_import_is_light() -> None:
    code = (
        "import sys, musicgen.models.registry; "
        "print(','.join(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
