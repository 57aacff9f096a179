"""Importing the package (and its light modules) must not import TensorFlow or Ray."""

import subprocess
import sys

import pytest

LIGHT_MODULES = [
    "musicgen",
    "musicgen.cli",
    "musicgen.config",
    "musicgen.errors",
    "musicgen.storage",
    "musicgen.corpus.sources",
    "musicgen.corpus.convert",
    "musicgen.corpus.shard",
    "musicgen.corpus.pipeline",
    "musicgen.encodings.pianoroll",
    "musicgen.encodings.biaxial",
    "musicgen.encodings.chords",
    "musicgen.encodings.performance",
    "musicgen.encodings.augment",
    "musicgen.encodings.performance_controls",
    "musicgen.examples.magenta_format",
    "musicgen.examples.polyphonic",
    "musicgen.encodings.performance_fast",
    "musicgen.examples.split",
    "musicgen.examples.stats",
    "musicgen.examples.encoding_info",
    "musicgen.examples.compact_format",
    "musicgen.examples.shard",
    "musicgen.examples.pipeline",
    "musicgen.examples.benchmark_datasets",
    "musicgen.examples.readers",
    "musicgen.ray_tasks",
    "musicgen.cli_generate",
    "musicgen.models.registry",
    "musicgen.models.family",
    "musicgen.train.config",
    "musicgen.train.driver",
    "musicgen.train.run_dir",
    "musicgen.train.checkpoints",
    "musicgen.train.metrics",
    "musicgen.storage.layout",
    "musicgen.generate.manifest",
    "musicgen.generate.pull",
    "musicgen.generate.quality",
    "musicgen.generate.render",
    "musicgen.generate.sampling",
    "musicgen.generate.config",
    "musicgen.generate.batch",
    "musicgen.generate.samples",
    "musicgen.generate.performance_generator",
    "musicgen.generate.roll_generator",
    "musicgen.schedule.launcher",
    "musicgen.schedule.k8s_schema",
]


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_import_pulls_in_neither_tensorflow_nor_ray(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "heavy = [m for m in ('tensorflow', 'ray', 'keras', 'google.cloud.storage') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"importing {module} imported {out}"
