"""seq2one_lstm (next chord from a fixed window) against chord_lstm (many-to-many) on JSB.

    .venv/bin/python benchmarks/seq2one_vs_chord.py           # ~8 minutes on a shared 2-core CPU
    .venv/bin/python benchmarks/seq2one_vs_chord.py --quick   # smoke run: 20 steps, 4 pieces

Both families read the same JSB Chorales examples (the official B-L splits, via
``make_benchmark_examples``, as ``benchmarks/quality.py`` does) and the same chord vocabulary
(the training split's ``chords.json``, all of it), and train in this process with the same
windows, batch, step budget, optimizer and seed, so the only difference is the model:
``chord_lstm`` predicts every frame of a window from all the frames before it, ``seq2one_lstm``
predicts each frame from at most ``window`` frames before it. The families' own ``batch_stats``
give the loss (the trainer's, minus Ray: sums over the batch divided by the weight).

Reported per model (``benchmarks/results/seq2one_vs_chord.json``):

- test ``chord_nll_per_frame`` (nats over chord classes; every frame of each whole test piece
  but its first; chord_lstm conditions on the whole past, seq2one_lstm on its window), accuracy
  and parameter count;
- how often generated pieces repeat themselves: 64 frames after a 4-frame primer from a test
  piece (4 primers x 4 seeds), drawn at temperature 1.0 and greedily (argmax, no
  loop-breaking): ``repeat_rate`` is the share of generated frames equal to the frame before,
  ``longest_run`` the longest stretch of identical consecutive frames (mean and max over
  pieces). The test pieces' own figures are given for reference.

The sizes are the budget's, not the issue's 3 x 512: one 128-unit LSTM each (seq2one adds its
Dense 128), embedding 32, dropout 0.3, so that both fit a few minutes of a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.quality import POLYPHONIC, make_dataset  # noqa: E402

OUT = REPO / "benchmarks" / "results" / "seq2one_vs_chord.json"
PRIMER_FRAMES = 4
GENERATED_FRAMES = 64


def model_configs(chords: str, window: int, quick: bool) -> dict[str, Any]:
    """The two models, the same sizes where they share a part."""
    from musicgen.models.configs import ChordLSTMConfig, Seq2OneLSTMConfig

    size, embedding = (16, 8) if quick else (128, 32)
    return {
        "chord_lstm": ChordLSTMConfig(
            layers=(size,), embedding_dim=embedding, dropout=0.3, chords=chords
        ),
        "seq2one_lstm": Seq2OneLSTMConfig(
            target="chord",
            layers=(size,),
            dense_size=size,
            window=window,
            embedding_dim=embedding,
            dropout=0.3,
            chords=chords,
        ),
    }


def train(family: Any, model: Any, dataset: Any, steps: int, learning_rate: float) -> list[float]:
    """``steps`` Adam steps (global clip 5, as the JSB presets) on the family's loss."""
    import keras
    import tensorflow as tf

    from musicgen.models.family import LOSS_SUM, WEIGHT

    optimizer = keras.optimizers.Adam(learning_rate, global_clipnorm=5.0)

    @tf.function(reduce_retracing=True)
    def step(batch: dict[str, tf.Tensor]) -> tf.Tensor:
        with tf.GradientTape() as tape:
            stats = family.batch_stats(model, batch, training=True)
            loss = stats[LOSS_SUM] / tf.maximum(stats[WEIGHT], 1.0)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    losses = []
    for batch in dataset.take(steps):
        losses.append(float(step(batch)))
    return losses


def score(family: Any, model: Any, dataset: Any) -> dict[str, float]:
    """The family's summary over every batch of ``dataset`` (summed stats)."""
    import tensorflow as tf

    stats = tf.function(lambda b: family.batch_stats(model, b, training=False))
    totals: dict[str, float] = {}
    for batch in dataset:
        for key, value in stats(batch).items():
            totals[key] = totals.get(key, 0.0) + float(value)
    summary = family.summarize(totals)
    return {**summary, "scored_frames": totals["nll_weight"]}


def repetition(pieces: list[np.ndarray], start: int) -> dict[str, float]:
    """Share of frames equal to the frame before (from ``start`` on, the first compared with
    the one before it) and the longest run of identical consecutive frames."""
    rates, runs = [], []
    for frames in pieces:
        part = frames[max(start - 1, 0) :]
        same = np.all(part[1:] == part[:-1], axis=1)
        rates.append(float(same.mean()))
        longest = run = 0
        for repeated in same:
            run = run + 1 if repeated else 0
            longest = max(longest, run)
        runs.append(longest + 1)
    return {
        "repeat_rate": round(float(np.mean(rates)), 4),
        "longest_run_mean": round(float(np.mean(runs)), 2),
        "longest_run_max": int(max(runs)),
    }


def generated(model: Any, family_name: str, primers: list[np.ndarray], seeds: list[int],
              argmax: bool) -> list[np.ndarray]:  # fmt: skip
    """Pieces of every primer x seed; the primer's frames first."""
    from musicgen.examples.benchmark_datasets import onsets_from_frames
    from musicgen.generate.roll_generator import RollSettings, generate_chords
    from musicgen.generate.seq2one_generator import generate_seq2one

    generate = generate_chords if family_name == "chord_lstm" else generate_seq2one
    settings = RollSettings(num_frames=GENERATED_FRAMES, steps_per_quarter=1, argmax=argmax)
    pieces = []
    for primer in primers:
        out = generate(model, settings, seeds, (primer, onsets_from_frames(primer)),
                       loop_window=0)  # fmt: skip
        pieces += [piece.frames for piece in out]
    return pieces


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (tiny, 20 steps)")
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "musicgen-seq2one-vs-chord"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    import keras

    from musicgen.examples.encoding_info import read_encoding_info
    from musicgen.examples.polyphonic import load_polyphonic
    from musicgen.examples.readers import list_shards
    from musicgen.models.registry import get_family
    from musicgen.train.config import DataConfig

    began = time.monotonic()
    steps = 20 if args.quick else args.steps
    batch_size, window, hop, context, lr, seed = 32, 16, 8, 8, 2e-3, 0
    dataset = make_dataset("JSB_Chorales", args.work)
    info = read_encoding_info(str(dataset))
    chords = str(dataset / "chords.json")
    train_data = DataConfig(dataset=str(dataset), window=window, hop=hop)
    test_data = DataConfig(dataset=str(dataset))
    test_rolls = load_polyphonic(str(POLYPHONIC / "JSB_Chorales.pickle"))["test"]
    primers = [np.asarray(r[:PRIMER_FRAMES], bool) for r in test_rolls[:4]]
    seeds = [1, 2, 3, 4] if not args.quick else [1]
    result: dict[str, Any] = {
        "machine": f"{platform.machine()} CPU, shared 2 cores",
        "dataset": "JSB_Chorales (B-L splits, one frame per quarter)",
        "training": {
            "steps": steps,
            "batch_size": batch_size,
            "data_window": window,
            "hop": hop,
            "learning_rate": lr,
            "optimizer": "Adam, global clip 5.0",
            "seed": seed,
        },
        "generation": {
            "primer": f"first {PRIMER_FRAMES} frames of test pieces 0-3",
            "frames": GENERATED_FRAMES,
            "seeds": seeds,
            "sampled": "temperature 1.0",
            "greedy": "argmax, loop_window 0 (no loop-breaking)",
        },
        "test_pieces": repetition([np.asarray(r, bool) for r in test_rolls], 1),
        "models": {},
    }
    for name, cfg in model_configs(chords, context, args.quick).items():
        family = get_family(name)
        keras.utils.set_random_seed(seed)
        model = family.build(cfg, info)
        train_ds = family.dataset(
            list_shards(str(dataset), "train"), info, train_data, batch_size=batch_size,
            training=True, seed=seed, num_shards=1, shard_index=0,
        )  # fmt: skip
        started = time.monotonic()
        losses = train(family, model, train_ds, steps, lr)
        train_s = time.monotonic() - started
        test_ds = family.dataset(
            list_shards(str(dataset), "test"), info, test_data, batch_size=8, training=False,
            seed=0, num_shards=1, shard_index=0,
        )  # fmt: skip
        test = score(family, model, test_ds)
        started = time.monotonic()
        sampled = generated(model, name, primers, seeds, argmax=False)
        greedy = generated(model, name, primers, seeds[:1], argmax=True)
        result["models"][name] = {
            "config": cfg.applicable() | {"chords": "<dataset>/chords.json"},
            "parameters": int(model.count_params()),
            "train_wall_s": round(train_s, 1),
            "final_train_loss_mean_last_50": round(float(np.mean(losses[-50:])), 4),
            "test": {k: round(v, 4) for k, v in test.items()},
            "sampled": repetition(sampled, PRIMER_FRAMES),
            "greedy": repetition(greedy, PRIMER_FRAMES),
            "generate_wall_s": round(time.monotonic() - started, 1),
        }
        print(name, json.dumps(result["models"][name]), flush=True)
    result["total_wall_s"] = round(time.monotonic() - began, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out} ({result['total_wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
