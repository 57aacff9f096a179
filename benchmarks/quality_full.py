"""``benchmarks/quality.py --budget full``: the papers' protocol, as far as this machine allows.

Per family, dataset and seed: the published model size and dropout; training in segments of
``segment`` steps with the real trainer (each segment resumes the run from its checkpoint), the
*whole* valid split scored after each; early stopping after ``patience`` segments without a
better valid NLL; the best-valid checkpoint scored on the whole test split. Every segment's valid
NLL is kept, so a row stopped by the wall budget (``--row-minutes``) still shows its learning
curve's trend. On a machine with GPUs (Ray sees them) the same command trains on one GPU with
mixed precision; nothing else changes.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FullPlan:
    """One family's full-budget run on one dataset."""

    family: str
    model: dict[str, Any]
    notes: str
    segment: int = 250
    max_steps: int = 20000
    patience: int = 4
    batch_size: int = 16
    window: int | None = None
    hop: int | None = None
    learning_rate: float = 1e-3
    eval_batch_size: int = 8


def full_plans(dataset: str) -> list[FullPlan]:
    """Published sizes (``shared/reference/benchmarks-and-data.md``) where the papers give them."""
    jsb = dataset == "JSB_Chorales"
    bar = 4 if jsb else 8
    window, hop = (None, None) if jsb else (128, 64)
    # TCN paper's LSTM: ~300K parameters on JSB, ~1M on Nottingham (and Piano-midi.de here).
    lstm = (150, 150) if jsb else (250, 250)
    return [
        FullPlan("pianoroll_lstm", {"layers": lstm, "dropout": 0.3},
                 f"2 x {lstm[0]} LSTM (TCN paper's LSTM: ~{'300K' if jsb else '1M'} parameters)",
                 window=window, hop=hop),
        FullPlan("biaxial_lstm", {"time_layers": (200, 200), "note_layers": (100, 100),
                                  "dropout": 0.5},
                 "Johnson 2017: time 2 x 200, note 2 x 100, dropout 0.5", segment=100,
                 batch_size=8, window=32, hop=16, eval_batch_size=2),
        FullPlan("seq2seq_lstm", {"layers": lstm, "seq2seq_window": 4 * bar, "dropout": 0.3},
                 f"encoder/decoder {lstm[0]}, chunks of {4 * bar} frames", window=window, hop=hop),
        FullPlan("endecell", {"encoder_size": 128, "time_layers": (200,), "decoder_size": 128,
                              "key_chunk": 4, "dropout": 0.3},
                 "encoder 128, time 1 x 200, decoder 128, 4 keys per key step", segment=150,
                 window=window or 64, hop=hop or 32),
        FullPlan("seq2one_lstm", {"target": "frame", "layers": (256, 256), "dense_size": 256,
                                  "window": 4 * bar, "dropout": 0.3},
                 f"frame target, 2 x 256 LSTM over {4 * bar} frames, dense 256",
                 window=window or 64, hop=hop or 32),
        FullPlan("chord_lstm", {"layers": (256, 256), "embedding_dim": 64, "dropout": 0.3},
                 "2 x 256 LSTM over the chord vocabulary", batch_size=32, window=4 * bar,
                 hop=2 * bar),
    ]  # fmt: skip


def train_early_stopping(
    plan: FullPlan,
    dataset: Path,
    runs: Path,
    seed: int,
    row_seconds: float,
    use_gpu: bool,
    train: Any,
    score: Any,
) -> dict[str, Any]:
    """Segments of training until early stopping, the wall budget or ``max_steps``; returns the
    row: the learning curve, the best-valid step and its test scores.

    ``train(cfg)`` runs the real trainer (resuming); ``score(run_dir, split, batch_size,
    model_file)`` scores a whole split.
    """
    from musicgen.storage import layout
    from musicgen.train.config import DataConfig, OptimizerConfig, TrainConfig, model_config

    metric = "chord_nll_per_frame" if plan.family == "chord_lstm" else "nll_per_frame"
    run_id = f"{dataset.name}-full-s{seed}"
    started = time.monotonic()
    curve: list[dict[str, Any]] = []
    best_nll, best_step, since_best = math.inf, 0, 0
    reason = "max_steps"
    step = 0
    run_dir = ""
    while step < plan.max_steps:
        step += plan.segment
        cfg = TrainConfig(
            model=model_config(family=plan.family, **plan.model),
            data=DataConfig(dataset=str(dataset), eval_split="valid", window=plan.window,
                            hop=plan.hop),
            optimizer=OptimizerConfig(learning_rate=plan.learning_rate, clip_norm=None,
                                      global_clip_norm=5.0),
            runs_dir=str(runs), run_id=run_id, batch_size=plan.batch_size, num_steps=step,
            log_every=plan.segment, eval_batches=1, checkpoint_every=plan.segment,
            keep_checkpoints=plan.max_steps // plan.segment + 1, seed=seed, num_workers=1,
            use_gpu=use_gpu,
        )  # fmt: skip
        report = train(cfg)
        run_dir = report.run_dir
        valid = score(run_dir, "valid", plan.eval_batch_size, None)
        nll = valid[metric]
        curve.append({"step": step, "valid_nll": nll, "train_loss": report.train.get("loss"),
                      "wall_s": round(time.monotonic() - started, 1)})  # fmt: skip
        if nll < best_nll:
            best_nll, best_step, since_best = nll, step, 0
        else:
            since_best += 1
        if since_best >= plan.patience:
            reason = f"early stopping (no better valid NLL in {plan.patience} evaluations)"
            break
        if time.monotonic() - started > row_seconds:
            reason = "wall budget"
            break
    checkpoint = f"{run_dir}/{layout.CHECKPOINTS}/ckpt-{best_step:08d}.keras"
    test = score(run_dir, "test", plan.eval_batch_size, checkpoint)
    return {
        "family": plan.family,
        "seed": seed,
        "model": plan.notes,
        "best_step": best_step,
        "best_valid_nll": round(best_nll, 4),
        "stopped": reason,
        "trend_last_3_per_1000_steps": _trend(curve),
        "train_wall_s": round(time.monotonic() - started, 1),
        "test": test,
        "curve": curve,
        "run_dir": run_dir,
    }


def _trend(curve: list[dict[str, Any]]) -> float | None:
    """The valid NLL's slope over the last three evaluations, per 1,000 steps (negative: still
    improving when the run stopped)."""
    if len(curve) < 3:
        return None
    steps = np.array([p["step"] for p in curve[-3:]], float)
    nlls = np.array([p["valid_nll"] for p in curve[-3:]], float)
    return round(float(np.polyfit(steps, nlls, 1)[0] * 1000), 4)


def full_markdown(result: dict[str, Any], published: dict[str, list[Any]]) -> list[str]:
    """Per dataset: each family's median test NLL over seeds, the spread, the best-valid step,
    why it stopped, the trend, and the wall time; with the published anchor targets."""
    lines: list[str] = []
    for name, rows in result["datasets"].items():
        lines += [f"## {name} (budget full)", "",
                  "| family | test NLL (median) | spread | seeds | best step | stopped | "
                  "valid trend /1k steps | wall s | model |",
                  "|---|---:|---:|---:|---:|---|---:|---:|---|"]  # fmt: skip
        by_family: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_family.setdefault(row["family"], []).append(row)
        for family, group in by_family.items():
            metric = "chord_nll_per_frame" if family == "chord_lstm" else "nll_per_frame"
            nlls = [r["test"][metric] for r in group]
            spread = f"{min(nlls):.2f}–{max(nlls):.2f}" if len(nlls) > 1 else "-"
            trend = group[-1]["trend_last_3_per_1000_steps"]
            lines.append(
                f"| {family} | {statistics.median(nlls):.2f} | {spread} | {len(group)} | "
                f"{group[-1]['best_step']} | {group[-1]['stopped']} | "
                f"{'-' if trend is None else f'{trend:+.3f}'} | "
                f"{sum(r['train_wall_s'] for r in group):.0f} | {group[-1]['model']} |"
            )
        anchors = "; ".join(f"{m} {v:.2f}" for m, _, v in published.get(name, []))
        lines += ["", f"Published: {anchors}.", ""]
    return lines
