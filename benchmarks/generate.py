"""Generation speed beside Magenta's own generator, in one invocation; batched vs one at a time.

    .venv/bin/python benchmarks/generate.py [--batch 256 1024] [--seconds 10] [--events 1000]
        [--beam-events 1000] [--beam-batch 64]
        [--roll-batch 64] [--roll-frames 200] [--rolls-only] [--out FILE.json]

Magenta: its ``PerformanceRnnSequenceGenerator`` loaded from a 3 x 512 performance_with_dynamics
bundle (made once by the harness's ``make_bundle.py`` and cached), timed by the harness in
../shared/magenta/ for ``--events`` events one piece at a time, and with beam 4 / branch 2.
Ours, in the same run: the same size of model (speed does not depend on the weights), one piece
at a time, batched, and beam 4 / branch 2 (one piece, and ``--beam-batch`` pieces whose beams
advance together; ratios against Magenta's beam, which runs one piece at a time); plus the
smoke preset (1 x 64, embedding). Events/s = generated events / wall seconds after a warm-up
that traces the step. The machine's matmul GFLOP/s is measured in the same run, and so is the
sampler's ceiling: the same compiled cells stepping 256 rows with no sampling (``profile``:
its events/s and GFLOP/s, and the best batch's share of it and of the matmul limit).

Piano-roll families (``--rolls-only``: this section alone, quickly, written only with ``--out``):
batched frames/s of the piano-roll and biaxial LSTMs, untrained (speed does not depend on the
weights) at the sizes of their JSB configs, built through the family registry: generated frames
(pieces x frames) / the median wall seconds of 3 calls, after a short first call that traces.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import magenta_side  # noqa: E402  (needs the repository on the path)

CONFIG = "performance_with_dynamics"
DEFAULT_DENSITY = 15.0  # Magenta's DEFAULT_NOTE_DENSITY: 4 RNN steps per note, 15 notes/s

# The sizes of configs/pianoroll_lstm_jsb.yaml and configs/biaxial_lstm_jsb.yaml.
ROLL_MODELS: dict[str, dict[str, Any]] = {
    "pianoroll_lstm": {"layers": (150, 150)},
    "biaxial_lstm": {"time_layers": (200, 200), "note_layers": (100, 100)},
}
MODELS = {
    "smoke_1x64_embedding": {"layers": (64,), "input_mode": "embedding", "embedding_dim": 32},
    "musicgen_3x512_one_hot": {"layers": (512, 512, 512), "input_mode": "one_hot"},
}


def measure(model: Any, seeds: list[int], num_steps: int, batched: bool) -> dict[str, Any]:
    from musicgen.generate.performance_generator import PerformanceSettings, generate

    settings = PerformanceSettings(num_steps=num_steps)
    # Untimed warm-up with the same settings (the compiled sampler is cached per settings): one
    # row traces it, two rows retrace it once with a free batch size, as every batch then runs.
    generate(model, settings, seeds[:1])
    if batched:
        generate(model, settings, seeds[:2])
    started = time.perf_counter()
    if batched:
        out = generate(model, settings, seeds)
    else:
        out = [g for seed in seeds for g in generate(model, settings, [seed])]
    sampled = time.perf_counter() - started
    notes = sum(len(g.sequence.notes) for g in out)  # Magenta's decoding, timed apart
    wall = time.perf_counter() - started
    events = sum(g.num_generated for g in out)
    return {
        "pieces": len(out),
        "events": events,
        "sampling_s": round(sampled, 3),
        "wall_s_with_decoding": round(wall, 3),
        "events_per_s": round(events / sampled, 1),
        "events_per_s_with_decoding": round(events / wall, 1),
        "notes": notes,
    }


def magenta_bundle() -> Path:
    """A 3 x 512 performance_with_dynamics bundle written by Magenta's own code (1 training
    step: generation speed does not depend on the weights), made once and cached."""
    bundle = magenta_side.CACHE / "magenta-bundles" / f"{CONFIG}_3x512.mag"
    if not bundle.exists():
        bundle.parent.mkdir(parents=True, exist_ok=True)
        magenta_side.run_harness(
            "make_bundle.py", "--config", CONFIG,
            "--examples", str(magenta_side.golden_training_records(CONFIG)),
            "--steps", "1", "--batch-size", "8", "--max-records", "16",
            "--hparams", "rnn_layer_sizes=[512,512,512]", "--out", str(bundle),
        )  # fmt: skip
    return bundle


def magenta_generation(events: int, beam_events: int) -> dict[str, Any]:
    """Magenta's generator, one piece at a time, plain and with beam 4 / branch 2."""
    bundle = str(magenta_bundle())
    plain = magenta_side.run_harness(
        "bench_generate.py", "--bundle", bundle, "--events", str(events), "--reps", "3"
    )
    beam = magenta_side.run_harness(
        "bench_generate.py", "--bundle", bundle, "--events", str(beam_events), "--reps", "1",
        "--beam-size", "4", "--branch-factor", "2",
    )  # fmt: skip
    return {
        "one_at_a_time": {"events": events, "events_per_s": round(plain["median_events_per_s"], 1)},
        "beam_4_branch_2": {
            "events": beam_events, "events_per_s": round(beam["median_events_per_s"], 1),
        },
    }  # fmt: skip


def our_beam(model: Any, events: int, pieces: int = 1) -> dict[str, Any]:
    """Our beam search (4 / 2) for ``pieces`` pieces of about ``events`` RNN steps each
    (Magenta's request of ceil(4 x 15 notes/s x seconds) steps), all pieces' beams in one batch,
    tracing excluded."""
    from musicgen.generate.performance_generator import PerformanceSettings, generate
    from musicgen.generate.sampling import SamplingSettings

    sampling = SamplingSettings(beam_size=4, branch_factor=2)
    seeds = list(range(1, pieces + 1))
    generate(model, PerformanceSettings(num_steps=120, sampling=sampling), seeds)  # traces
    seconds = events / (4 * DEFAULT_DENSITY)
    # The empty primer is 1 s of silence (TIME_SHIFT(100)); the request starts after it.
    settings = PerformanceSettings(num_steps=100 + round(seconds * 100), sampling=sampling)
    started = time.perf_counter()
    out = generate(model, settings, seeds)
    took = time.perf_counter() - started
    generated = sum(g.num_generated for g in out)
    return {
        "pieces": pieces,
        "events": generated,
        "seconds": round(took, 2),
        "events_per_s": round(generated / took, 1),
    }


def step_flops(model: Any) -> int:
    """FLOPs per event of our gathered step (GEMMs only): the first layer's recurrent GEMM (its
    one-hot input is a row gather), ``[x, h] @ [W; U]`` for each further layer, the logits."""
    sizes = [layer.cell.units for layer in model.layers if layer.name.startswith("lstm_")]
    classes = model.performance_config.num_event_classes
    gemm = sizes[0] * 4 * sizes[0] + sizes[-1] * classes
    gemm += sum((a + b) * 4 * b for a, b in itertools.pairwise(sizes))
    return 2 * gemm


def gemm_bound(model: Any, rows: int = 256, steps: int = 64, reps: int = 5) -> dict[str, Any]:
    """The sampler's ceiling on this machine: the same compiled cells for ``rows`` rows and
    ``steps`` steps per call, with no sampling, no clocks and no host work (median of ``reps``
    calls after one that traces)."""
    import numpy as np
    import tensorflow as tf

    from musicgen.generate.fused_sampling import step_cells
    from musicgen.generate.performance_generator import PerformanceSettings, PerformanceStepper

    stepper = PerformanceStepper(model, PerformanceSettings())
    cells = step_cells(stepper, 0)

    @tf.function
    def run(picks: Any, state: list[Any]) -> Any:
        packed = cells.packed()

        def body(k: Any, logits: Any, state: list[Any]) -> Any:
            logits, state = cells(None, picks, state, packed)
            return k + 1, logits, state

        start = (tf.constant(0), tf.zeros((rows, stepper.config.num_event_classes)), state)
        return tf.while_loop(lambda k, *_: k < steps, body, start)[1]

    picks = tf.constant(np.arange(rows) % stepper.config.num_event_classes, tf.int32)
    state = [tf.constant(s) for s in stepper.zero_state(rows)]
    run(picks, state).numpy()  # traces
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        run(picks, state).numpy()
        times.append(time.perf_counter() - started)
    events_per_s = rows * steps / statistics.median(times)
    return {
        "rows": rows,
        "flops_per_event": step_flops(model),
        "events_per_s": round(events_per_s, 1),
        "gflops": round(events_per_s * step_flops(model) / 1e9, 1),
    }


def roll_generation(batch: int, frames: int) -> dict[str, Any]:
    """Batched frames/s of the piano-roll families' generators, tracing excluded: a 2-frame
    first call traces the step (its time is reported apart), then the median of 3 calls."""
    import keras

    from musicgen.examples.encoding_info import EncodingInfo
    from musicgen.generate.roll_generator import (
        RollSettings,
        generate_biaxial,
        generate_pianoroll,
    )
    from musicgen.models.registry import get_family
    from musicgen.train.config import model_config

    generators = {"pianoroll_lstm": generate_pianoroll, "biaxial_lstm": generate_biaxial}
    info = EncodingInfo.for_pianoroll(4)
    seeds = list(range(batch))
    results: dict[str, Any] = {}
    for family, sizes in ROLL_MODELS.items():
        keras.utils.set_random_seed(0)
        model = get_family(family).build(model_config(family=family, **sizes), info)
        generate = generators[family]
        started = time.perf_counter()
        generate(model, RollSettings(num_frames=2), seeds)  # traces the step
        first = time.perf_counter() - started
        times = []
        for _ in range(3):
            started = time.perf_counter()
            generate(model, RollSettings(num_frames=frames), seeds)
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        results[family] = {
            "sizes": {key: list(value) for key, value in sizes.items()},
            "pieces": batch,
            "frames_per_piece": frames,
            "first_call_2_frames_s": round(first, 2),
            "median_s": round(median, 3),
            "frames_per_s": round(batch * frames / median, 1),
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--sequential", type=int, default=4, help="pieces generated one by one")
    parser.add_argument(
        "--sequential-seconds", type=float, default=160.0,
        help="length of those pieces: about Magenta's 1000 events for an untrained model",
    )  # fmt: skip
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each piece")
    parser.add_argument("--events", type=int, default=1000, help="Magenta: events per piece")
    parser.add_argument("--beam-events", type=int, default=1000, help="beam 4/2 piece length")
    parser.add_argument("--beam-batch", type=int, default=64, help="beam pieces at once")
    parser.add_argument("--roll-batch", type=int, default=64, help="piano-roll pieces at once")
    parser.add_argument("--roll-frames", type=int, default=200, help="piano-roll piece length")
    parser.add_argument("--rolls-only", action="store_true", help="only the piano-roll section")
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/generate.json")
    args = parser.parse_args()
    if args.rolls_only:
        rolls = {
            "machine": {"matmul_float32_gflops": magenta_side.matmul_gflops("float32")},
            "roll_generation": roll_generation(args.roll_batch, args.roll_frames),
        }
        return report(rolls, args.out)
    magenta = magenta_generation(args.events, args.beam_events)
    import keras

    from musicgen.models.performance_rnn import PerformanceRNN

    num_steps = int(args.seconds * 100)
    results: dict[str, Any] = {
        "config": CONFIG,
        "seconds_per_piece": args.seconds,
        "machine": {"matmul_float32_gflops": magenta_side.matmul_gflops("float32")},
        "magenta_3x512_one_hot": magenta,
    }
    for name, kwargs in MODELS.items():
        keras.utils.set_random_seed(0)
        model = PerformanceRNN("performance_with_dynamics", **kwargs)
        one = measure(
            model, list(range(args.sequential)), int(args.sequential_seconds * 100), batched=False
        )
        results[name] = {"one_at_a_time": one}
        for batch in args.batch:
            many = measure(model, list(range(1000, 1000 + batch)), num_steps, batched=True)
            results[name][f"batch_{batch}"] = many
            results[name][f"speedup_batch_{batch}"] = round(
                many["events_per_s"] / one["events_per_s"], 1
            )
            results[name][f"speedup_batch_{batch}_with_decoding"] = round(
                many["events_per_s_with_decoding"] / one["events_per_s_with_decoding"], 1
            )
        if name == "musicgen_3x512_one_hot":  # Magenta's size: the sampler's profile, beams
            bound = gemm_bound(model)
            limit = results["machine"]["matmul_float32_gflops"]
            best = max(results[name][f"batch_{b}"]["events_per_s"] for b in args.batch)
            results[name]["profile"] = {
                "gemm_bound": bound,
                "gemm_bound_share_of_matmul_limit": round(bound["gflops"] / limit, 2),
                "sampler_best_batch_gflops": round(best * bound["flops_per_event"] / 1e9, 1),
                "sampler_best_batch_share_of_gemm_bound": round(best / bound["events_per_s"], 2),
                "sampler_best_batch_share_of_matmul_limit": round(
                    best * bound["flops_per_event"] / 1e9 / limit, 2
                ),
            }
            results[name]["beam_4_branch_2"] = our_beam(model, args.beam_events)
            results[name][f"beam_4_branch_2_batch_{args.beam_batch}"] = our_beam(
                model, args.beam_events, args.beam_batch
            )
    results["roll_generation"] = roll_generation(args.roll_batch, args.roll_frames)
    ours = results["musicgen_3x512_one_hot"]
    base = magenta["one_at_a_time"]["events_per_s"]
    results["ratios_vs_magenta_one_at_a_time"] = {
        "one_at_a_time": round(ours["one_at_a_time"]["events_per_s"] / base, 2),
        **{f"batch_{b}": round(ours[f"batch_{b}"]["events_per_s"] / base, 1) for b in args.batch},
        **{
            key: round(ours[key]["events_per_s"] / magenta["beam_4_branch_2"]["events_per_s"], 1)
            for key in ("beam_4_branch_2", f"beam_4_branch_2_batch_{args.beam_batch}")
        },
    }
    return report(results, args.out or REPO / "benchmarks/results/generate.json")


def report(results: dict[str, Any], out: Path | None) -> int:
    """Prints the results, and writes them to ``out`` if given."""
    text = json.dumps(results, indent=2)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
