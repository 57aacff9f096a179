"""Generation speed: batched (all rows advance together) vs one sequence at a time, same model,
same machine, side by side in one run.

    .venv/bin/python benchmarks/generate.py [--batch 256 1024] [--seconds 10] [--out FILE.json]

Two PerformanceRNN sizes, untrained (speed does not depend on the weights): the smoke preset
(1 x 64, embedding) and Magenta's performance_with_dynamics (3 x 512, one-hot inputs). For each,
``--sequential`` pieces are generated one after another with batch 1, and ``--batch`` pieces
together; events/s = generated events / wall seconds, after a warm-up that traces the step.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODELS = {
    "smoke_1x64_embedding": {"layers": (64,), "input_mode": "embedding", "embedding_dim": 32},
    "magenta_3x512_one_hot": {"layers": (512, 512, 512), "input_mode": "one_hot"},
}


def measure(model: Any, seeds: list[int], num_steps: int, batched: bool) -> dict[str, Any]:
    from musicgen.generate.performance_generator import PerformanceSettings, generate

    settings = PerformanceSettings(num_steps=num_steps)
    generate(model, PerformanceSettings(num_steps=50), seeds[:1])  # trace the step
    if batched:
        generate(model, PerformanceSettings(num_steps=50), seeds)  # trace the batch shape
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--sequential", type=int, default=4, help="pieces generated one by one")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each piece")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/generate.json")
    args = parser.parse_args()
    import keras

    from musicgen.models.performance_rnn import PerformanceRNN

    num_steps = int(args.seconds * 100)
    results: dict[str, Any] = {
        "config": "performance_with_dynamics",
        "seconds_per_piece": args.seconds,
    }
    for name, kwargs in MODELS.items():
        keras.utils.set_random_seed(0)
        model = PerformanceRNN("performance_with_dynamics", **kwargs)
        one = measure(model, list(range(args.sequential)), num_steps, batched=False)
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
    text = json.dumps(results, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
