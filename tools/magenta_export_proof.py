"""Dev proof: bundles `musicgen export-magenta` writes run in Magenta's own code, with our numbers.

    .venv/bin/python tools/magenta_export_proof.py [--out FILE.json] [--time]

For every case, the bundle our exporter writes is loaded by Magenta's generator
(``PerformanceRnnSequenceGenerator.initialize()``: import_meta_graph + restore) in the harness's
``dump_logits.py``, whose softmax over a fixed event sequence (zero state, temperature 1) must
equal our Keras model's to 1e-5. Its checkpoint alone is also restored into the graph Magenta
builds from its config (``--checkpoint --config --hparams rnn_layer_sizes=...``), which proves
the variable names. The input rows Magenta fed (``--inputs-out``) must equal ours.

Cases: the four golden bundles (imported, then exported; also compared with Magenta's stored
softmax of the original bundle), and random-weight models Magenta has no bundle of: the compact
config (exported as ``performance_with_dynamics``), an ``embedding`` model (folded into the
kernel), and the pitch-conditioned and optionally-multiconditioned configs (controls).
``--time`` also times generation from the 1x96 bundle: Magenta's generator vs ours.

Needs ``../shared/magenta`` (Magenta's source and harness; ``MUSICGEN_DATA`` replaces
``../shared``) and the harness's venv (``bash ../shared/magenta/setup.sh``, which makes
``$HOME/.cache/magenta-venv``; ``MAGENTA_PYTHON`` names another python). Exit 2 with one line
naming what is missing; 1 if a case differs by more than 1e-5; 0 when every case holds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("MUSICGEN_DATA") or REPO.parent / "shared")
HARNESS = DATA / "magenta"
GOLDEN = REPO / "tests" / "testdata" / "golden" / "magenta-bundles"
TOLERANCE = 1e-5
HISTOGRAM = [3.0, 0.0, 1.0, 0.0, 2.0, 1.0, 0.0, 2.0, 0.0, 1.0, 0.0, 0.5]


def fail(message: str) -> None:
    print(f"magenta_export_proof: {message}", file=sys.stderr)
    sys.exit(2)


def magenta_python() -> Path:
    python = Path(
        os.environ.get("MAGENTA_PYTHON") or Path.home() / ".cache" / "magenta-venv" / "bin/python"
    )
    if not (HARNESS / "dump_logits.py").is_file():
        fail(f"Magenta's harness is missing: {HARNESS} (set MUSICGEN_DATA)")
    if not python.is_file():
        fail(f"no Magenta venv at {python}: run `bash {HARNESS}/setup.sh` (or set MAGENTA_PYTHON)")
    return python


def harness(python: Path, script: str, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [str(python), str(HARNESS / script), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.splitlines()[-15:])
        raise RuntimeError(f"{script} {' '.join(args)} failed ({proc.returncode}):\n{tail}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return out


def our_rows(model: Any, ids: np.ndarray, values: list[Any] | None) -> np.ndarray:
    """Our model's input for ``ids`` with constant controls, as generation builds it."""
    from musicgen.encodings import performance as perf
    from musicgen.encodings.performance_configs import Control
    from musicgen.generate.performance_generator import ControlSchedule, PerformanceSettings

    config = model.performance_config
    if model.input_mode == "embedding":
        return ids.astype(np.int32)
    rows = perf.event_inputs(ids, config)
    if config.controls:
        given = dict(zip(config.controls, values or [], strict=True))
        settings = PerformanceSettings(
            notes_per_second=given.get(Control.DENSITY),
            pitch_class_histogram=tuple(given[Control.PITCH_HISTOGRAM])
            if Control.PITCH_HISTOGRAM in given
            else None,
        )
        controls = ControlSchedule(config, settings).rows(np.zeros(len(ids), np.int64))
        rows = np.concatenate([controls, rows], axis=1)
    return rows.astype(np.float32)


def random_model(config: str, **kw: Any) -> Any:
    import keras

    from musicgen.models.performance_rnn import PerformanceRNN

    keras.utils.set_random_seed(7)
    model = PerformanceRNN(config, layers=(48, 32), **kw)
    rng = np.random.default_rng(7)
    for weight in model.weights:  # non-zero biases: a misplaced one would show
        weight.assign(rng.normal(0.0, 0.25, weight.shape).astype(np.float32))
    return model


def check_case(
    python: Path, name: str, model: Any, ids: np.ndarray, values: list[Any] | None, work: Path
) -> dict[str, Any]:
    from musicgen.interop.magenta_export import bundle_of, magenta_weights_of

    weights, generator_id, notes = magenta_weights_of(model)
    bundle = work / f"{name}.mag"
    bundle.write_bytes(bundle_of(weights, generator_id, f"magenta_export_proof {name}"))
    events = work / f"{name}.events.npy"
    np.save(events, ids.astype(np.int64))
    control = ["--control-values", json.dumps(values)] if values is not None else []
    dump = harness(
        python, "dump_logits.py", "--bundle", str(bundle), "--events-file", str(events),
        "--out", str(work / f"{name}.softmax.npy"), "--inputs-out",
        str(work / f"{name}.inputs.npy"), *control,
    )  # fmt: skip
    theirs = np.load(work / f"{name}.softmax.npy")
    fed = our_rows(model, ids, values)
    ours = softmax(np.asarray(model(fed[None], training=False))[0])
    magenta_inputs = np.load(work / f"{name}.inputs.npy")
    if model.input_mode == "embedding" or fed.shape[1] == 1:
        ours_as_fed = np.eye(magenta_inputs.shape[1], dtype=np.float32)[ids]
    else:
        ours_as_fed = fed
    # The checkpoint alone, restored into the graph Magenta builds from its own config.
    ckpt = work / f"{name}.ckpt"
    from musicgen.interop.magenta_bundle import read_bundle

    ckpt.write_bytes(read_bundle(str(bundle)).checkpoint)
    sizes = ",".join(str(s) for s in weights.layer_sizes)
    harness(
        python, "dump_logits.py", "--checkpoint", str(ckpt), "--config", generator_id,
        "--hparams", f"rnn_layer_sizes=[{sizes}]", "--events-file", str(events),
        "--out", str(work / f"{name}.from_config.npy"), "--no-stepwise", *control,
    )  # fmt: skip
    from_config = np.load(work / f"{name}.from_config.npy")
    out = {
        "case": name,
        "generator_id": generator_id,
        "rnn_layer_sizes": list(weights.layer_sizes),
        "notes": notes,
        "max_abs_softmax_diff_vs_ours": float(np.max(np.abs(theirs - ours))),
        "max_abs_softmax_diff_graph_from_config": float(np.max(np.abs(from_config - theirs))),
        "magenta_stepwise_max_abs_diff": dump["stepwise_max_abs_diff"],
        "inputs_max_abs_diff": float(np.max(np.abs(magenta_inputs - ours_as_fed))),
        "magenta_log_likelihood": dump["magenta_log_likelihood"],
        "ours_log_likelihood": float(np.sum(np.log(ours[np.arange(len(ids) - 1), ids[1:]]))),
    }
    return out


def golden_cases(work: Path) -> list[tuple[str, Any, np.ndarray, list[Any] | None, np.ndarray]]:
    from musicgen.generate.loaded_run import load_run
    from musicgen.interop.magenta_import import import_magenta

    manifest = json.loads((GOLDEN / "manifest.json").read_text())
    cases = []
    for entry in manifest["bundles"]:
        run = work / "runs" / entry["name"]
        import_magenta(str(GOLDEN / entry["bundle"]["file"]), str(run))
        model = load_run(str(run)).model
        ids = np.load(GOLDEN / entry["events"]["file"])
        values = entry["events"]["control_values"]
        cases.append(
            (entry["name"], model, ids, values, np.load(GOLDEN / entry["softmax"]["file"]))
        )
    return cases


def timing(python: Path, work: Path, events: int) -> dict[str, Any]:
    """Events/s from the 1x96 bundle: Magenta's generator (one piece) vs ours (1 and 256)."""
    from musicgen.generate.loaded_run import load_run
    from musicgen.generate.performance_generator import PerformanceSettings, generate

    name = "performance_with_dynamics_1x96"
    magenta = harness(
        python, "bench_generate.py", "--bundle", str(GOLDEN / f"{name}.mag"), "--events",
        str(events), "--reps", "3", "--seed", "1", "--threads", "2",
    )  # fmt: skip
    model = load_run(str(work / "runs" / name)).model
    settings = PerformanceSettings(num_steps=10**7)  # never reached: max_events ends each piece
    generate(model, settings, [0], max_events=50)  # traces the step
    out: dict[str, Any] = {"magenta_events_per_s": magenta["events_per_s"]}
    for rows in (1, 256):
        began = time.perf_counter()
        generate(model, settings, list(range(rows)), max_events=events)
        out[f"ours_batch_{rows}_events_per_s"] = rows * events / (time.perf_counter() - began)
        out[f"ratio_batch_{rows}"] = (
            out[f"ours_batch_{rows}_events_per_s"] / magenta["events_per_s"]
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="also write the results here (JSON)")
    parser.add_argument("--time", action="store_true", help="also time generation vs Magenta")
    parser.add_argument("--events", type=int, default=1000, help="events per timed piece")
    args = parser.parse_args(argv)
    python = magenta_python()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="magenta-proof-") as tmp:
        work = Path(tmp)
        for name, model, ids, values, stored in golden_cases(work):
            result = check_case(python, name, model, ids, values, work)
            exported = np.load(work / f"{name}.softmax.npy")
            result["max_abs_softmax_diff_vs_magenta_original"] = float(
                np.max(np.abs(exported - stored))
            )
            results.append(result)
        ids = np.load(GOLDEN / "performance_with_dynamics_1x96.events.npy")
        synthetic = [
            ("compact_random_48x32", random_model("performance_with_dynamics_compact"), None),
            ("embedding_random_48x32",
             random_model("performance_with_dynamics", input_mode="embedding", embedding_dim=24),
             None),
            ("pitch_conditioned_random_48x32",
             random_model("pitch_conditioned_performance_with_dynamics"), [HISTOGRAM]),
            ("optional_multiconditioned_random_48x32",
             random_model("optional_multiconditioned_performance_with_dynamics"),
             [3.0, HISTOGRAM]),
        ]  # fmt: skip
        for name, model, values in synthetic:
            results.append(check_case(python, name, model, ids, values, work))
        timed = timing(python, work, args.events) if args.time else None
    keys = ("max_abs_softmax_diff_vs_ours", "max_abs_softmax_diff_graph_from_config",
            "inputs_max_abs_diff", "max_abs_softmax_diff_vs_magenta_original")  # fmt: skip
    ok = all(r.get(k, 0.0) <= TOLERANCE for r in results for k in keys)
    report = {"tolerance": TOLERANCE, "ok": ok, "cases": results, "timing": timed}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
