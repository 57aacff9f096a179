"""Training throughput on this CPU: steps/s and events/s per worker, 1 -> 2 Ray Train workers.

    .venv/bin/python benchmarks/train.py [--songs 40] [--steps 12] [--out results/train.json]

POP909 songs are converted and turned into compact performance_with_dynamics examples (full
augmentation), then each model is trained with the real `musicgen train` driver (Ray Train,
custom MultiWorkerMirroredStrategy step) for ``--steps`` steps at the same global batch with 1
and with 2 workers. Rates are medians of the logged windows after the first (which includes
tf.function tracing). Magenta's own training here (benchmarks-and-data.md §5): 0.183 steps/s,
4,959 events/s for 3 x 512, batch 64, every batch padded to 511 steps.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# The big benchmark data (README "Development"): $MUSICGEN_DATA, else ../shared beside the checkout.
DATA = Path(os.environ.get("MUSICGEN_DATA") or REPO.parent / "shared")
POP909 = DATA / "datasets" / "midi" / "pop909" / "midi"

MODELS: dict[str, dict[str, Any]] = {
    "magenta_3x512_one_hot": {"layers": [512, 512, 512], "input_mode": "one_hot", "batch": 64},
    "small_2x128_embedding": {
        "layers": [128, 128], "input_mode": "embedding", "embedding_dim": 64, "batch": 64,
    },
}  # fmt: skip


def require_pop909() -> None:
    """Exits 2 with one line naming the folder when the benchmark's POP909 data is missing."""
    if not POP909.exists():
        print(
            f"benchmark data missing: {POP909} (POP909, 809 MIDI files; set MUSICGEN_DATA)",
            file=sys.stderr,
        )
        sys.exit(2)


def make_examples(songs: int, root: Path) -> Path:
    """``songs`` POP909 songs as compact performance_with_dynamics examples under ``root``."""
    from musicgen.config import ConvertConfig, ExamplesConfig
    from musicgen.corpus.pipeline import convert_corpus
    from musicgen.examples.pipeline import make_examples as run_examples

    corpus = root / "midi"
    corpus.mkdir()
    for path in sorted(POP909.glob("*.mid"))[:songs]:
        shutil.copy(path, corpus / path.name)
    convert_corpus(ConvertConfig(input=str(corpus), output=str(root / "seq")))
    run_examples(ExamplesConfig(input=str(root / "seq"), output=str(root / "ex")))
    return root / "ex"


def run(
    dataset: Path, runs: Path, name: str, spec: dict[str, Any], workers: int, steps: int
) -> dict[str, Any]:
    from musicgen.train.config import DataConfig, ModelConfig, TrainConfig
    from musicgen.train.driver import train
    from musicgen.train.metrics import read_rows

    model = {k: (tuple(v) if isinstance(v, list) else v) for k, v in spec.items() if k != "batch"}
    cfg = TrainConfig(
        model=ModelConfig(family="performance_rnn", **model),
        data=DataConfig(dataset=str(dataset)),
        runs_dir=str(runs), run_id=f"{name}-{workers}w", batch_size=spec["batch"],
        num_steps=steps, log_every=2, checkpoint_every=steps, eval_batches=1,
        num_workers=workers,
    )  # fmt: skip
    report = train(cfg)
    rows = [
        r for r in read_rows(str(Path(report.run_dir) / "metrics.jsonl")) if r["split"] == "train"
    ]
    steady = rows[1:] or rows
    steps_per_s = statistics.median(r["steps_per_s"] for r in steady)
    events_per_s = statistics.median(r["events_per_s"] for r in steady)
    return {
        "workers": workers,
        "global_batch": spec["batch"],
        "steps": steps,
        "steps_per_s": round(steps_per_s, 3),
        "events_per_s": round(events_per_s, 1),
        "events_per_s_per_worker": round(events_per_s / workers, 1),
        "wall_s": round(report.wall_s, 1),
        "final_loss": rows[-1]["loss"] if rows else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--songs", type=int, default=40)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/train.json")
    args = parser.parse_args()
    require_pop909()
    from musicgen.ray_tasks import init_ray

    results: dict[str, Any] = {
        "config": "performance_with_dynamics",
        "songs": args.songs,
        "magenta_here": {"steps_per_s": 0.183, "events_per_s": 4959, "model": "3x512, batch 64"},
    }
    with tempfile.TemporaryDirectory() as tmp:
        dataset = make_examples(args.songs, Path(tmp))
        init_ray(None, 2)
        for name, spec in MODELS.items():
            one = run(dataset, Path(tmp) / "runs", name, spec, 1, args.steps)
            two = run(dataset, Path(tmp) / "runs", name, spec, 2, args.steps)
            results[name] = {
                "1_worker": one,
                "2_workers": two,
                "scaling_1_to_2": round(two["events_per_s"] / one["events_per_s"], 2),
            }
    text = json.dumps(results, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
