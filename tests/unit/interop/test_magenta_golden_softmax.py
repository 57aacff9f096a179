"""The proof of the import: each golden bundle, imported as a run directory and loaded back as
generation loads it, gives Magenta's own per-step softmax (zero state, temperature 1) to 1e-5.

The golden arrays were written by Magenta's code (tests/testdata/golden/magenta-bundles/README.md);
their README shows that a wrong gate order, a dropped forget bias or a wrong control differs by
1e-3 or more, so 1e-5 tells right from wrong.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from musicgen.encodings import performance as perf
from musicgen.generate.loaded_run import load_run
from musicgen.generate.performance_generator import ControlSchedule, PerformanceSettings
from musicgen.interop.magenta_import import import_magenta
from tests.unit.interop.conftest import bundles_dir, manifest_entry

TOLERANCE = 1e-5


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return out


def test_imported_run_reproduces_magentas_softmax(bundle_name: str, tmp_path: Path) -> None:
    entry = manifest_entry(bundle_name)
    folder = bundles_dir()
    report = import_magenta(str(folder / entry["bundle"]["file"]), str(tmp_path / "run"))
    assert report.config == entry["config"]
    assert report.rnn_layer_sizes == entry["rnn_layer_sizes"]
    assert report.num_parameters == sum(int(np.prod(shape)) for _, shape in entry["variables"])
    provenance = json.loads((tmp_path / "run" / "magenta.json").read_text())
    assert provenance["sha256"] == entry["bundle"]["sha256"]
    assert provenance["generator_id"] == entry["generator_id"]

    run = load_run(str(tmp_path / "run"))
    config = run.model.performance_config
    assert run.info.name == config.name == entry["config"]
    ids = np.load(folder / entry["events"]["file"])
    rows = perf.event_inputs(ids, config)
    if config.controls:
        # The rows generation feeds for --notes-per-second 3 are the rows Magenta fed.
        values = entry["controls"]["control_values"]
        schedule = ControlSchedule(config, PerformanceSettings(notes_per_second=values[0]))
        controls = schedule.rows(np.zeros(len(ids), np.int64))
        np.testing.assert_array_equal(controls, np.load(folder / entry["controls"]["file"]))
        rows = np.concatenate([controls, rows], axis=1)
    if "inputs" in entry:
        np.testing.assert_allclose(rows, np.load(folder / entry["inputs"]["file"]), atol=1e-7)
    logits = np.asarray(run.model(rows[None].astype(np.float32), training=False))[0]
    expected = np.load(folder / entry["softmax"]["file"])
    diff = float(np.max(np.abs(softmax(logits) - expected)))
    print(f"{bundle_name}: max |softmax - Magenta's| = {diff:.2e}")
    assert diff <= TOLERANCE


def test_a_trained_run_is_not_overwritten(tmp_path: Path) -> None:
    from musicgen.interop.errors import MagentaModelError

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.resolved.yaml").write_text("model: {}\n")
    with pytest.raises(MagentaModelError, match="run-exists"):
        import_magenta(str(bundles_dir() / "performance_with_dynamics_1x96.mag"), str(run))
