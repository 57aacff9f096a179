"""``benchmarks/quality.py --budget full``: the papers' protocol, as far as this machine allows.

Per family, dataset and seed: the published model size and dropout, on the training split
augmented by transposition (-3..+3 semitones; the valid and test splits as published); one run
of the real trainer with its early stopping (``TrainConfig.early_stopping``): the valid split
evaluated whole every ``eval_every`` steps, the run stopped after ``patience`` evaluations
without a better valid NLL, and its best-valid model (``model.keras`` = ``best.keras``) scored
on the whole test split, as whole pieces. The trainer's time limit (``--row-minutes``) ends a
row that is still improving; its valid NLL's curve is kept, so such a row shows its trend. On a
machine with GPUs (Ray sees them) the same command trains on one GPU with mixed precision;
nothing else changes.

The valid evaluations see the training windows (``window``/``hop``, whole pieces on JSB), the
test score sees whole pieces; the windows only choose the checkpoint.
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
    eval_every: int = 250
    max_steps: int = 50000
    patience: int = 6
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
    dropout, rate = 0.3, 2e-3  # one setting for the three datasets (JSB too, once augmented)
    return [
        FullPlan("pianoroll_lstm", {"layers": lstm, "dropout": dropout},
                 f"2 x {lstm[0]} LSTM (TCN paper's LSTM: ~{'300K' if jsb else '1M'} parameters), "
                 f"dropout {dropout}, Adam {rate:g}", window=window, hop=hop,
                 learning_rate=rate),
        FullPlan("biaxial_lstm", {"time_layers": (200, 200), "note_layers": (100, 100),
                                  "dropout": 0.5},
                 "Johnson 2017: time 2 x 200, note 2 x 100, dropout 0.5", eval_every=100,
                 batch_size=8, window=32, hop=16, eval_batch_size=2),
        FullPlan("seq2seq_lstm", {"layers": lstm, "seq2seq_window": 4 * bar, "dropout": 0.3},
                 f"encoder/decoder {lstm[0]}, chunks of {4 * bar} frames", window=window, hop=hop),
        FullPlan("endecell", {"encoder_size": 128, "time_layers": (200,), "decoder_size": 128,
                              "key_chunk": 4, "dropout": 0.3},
                 "encoder 128, time 1 x 200, decoder 128, 4 keys per key step", eval_every=150,
                 window=window or 64, hop=hop or 32),
        FullPlan("seq2one_lstm", {"target": "frame", "layers": (256, 256), "dense_size": 256,
                                  "window": 4 * bar, "dropout": 0.3},
                 f"frame target, 2 x 256 LSTM over {4 * bar} frames, dense 256",
                 window=window or 64, hop=hop or 32),
        FullPlan("chord_lstm", {"layers": (256, 256), "embedding_dim": 64, "dropout": 0.3},
                 "2 x 256 LSTM over the chord vocabulary", batch_size=32, window=4 * bar,
                 hop=2 * bar),
    ]  # fmt: skip


def benchmark_config(
    family: str,
    model: dict[str, Any],
    dataset: Path,
    window: int | None,
    hop: int | None,
    learning_rate: float,
    **run: Any,
) -> Any:
    """Both budgets' training config: validated on the valid split, one worker, Adam with the
    gradient clipped to a global norm of 5; ``run`` sets the rest (steps, ids, evaluation)."""
    from musicgen.train.config import DataConfig, OptimizerConfig, TrainConfig, model_config

    return TrainConfig(
        model=model_config(family=family, **model),
        data=DataConfig(dataset=str(dataset), eval_split="valid", window=window, hop=hop),
        optimizer=OptimizerConfig(learning_rate=learning_rate, clip_norm=None,
                                  global_clip_norm=5.0),
        num_workers=1, **run,
    )  # fmt: skip


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
    """One trainer run until early stopping, the time limit or ``max_steps``; returns the row:
    the valid curve, the best-valid step and its model's test scores.

    ``train(cfg)`` runs the real trainer; ``score(run_dir, split, batch_size)`` scores the run's
    ``model.keras`` on a whole split.
    """
    from musicgen.storage import layout
    from musicgen.train.config import EarlyStoppingConfig
    from musicgen.train.metrics import read_rows

    metric = "chord_nll_per_frame" if plan.family == "chord_lstm" else "nll_per_frame"
    cfg = benchmark_config(
        plan.family, plan.model, dataset, plan.window, plan.hop, plan.learning_rate,
        run_id=f"{dataset.name}-full-s{seed}", runs_dir=str(runs), batch_size=plan.batch_size,
        num_steps=plan.max_steps, log_every=plan.eval_every, eval_every=plan.eval_every,
        eval_batches=None, checkpoint_every=plan.max_steps, keep_checkpoints=2, seed=seed,
        early_stopping=EarlyStoppingConfig(patience=plan.patience, metric=metric),
        max_minutes=row_seconds / 60, use_gpu=use_gpu,
    )  # fmt: skip
    started = time.monotonic()
    report = train(cfg)
    train_s = time.monotonic() - started
    rows = read_rows(layout.RunDir(report.run_dir).metrics)
    losses = {r["step"]: r.get("loss") for r in rows if r.get("split") == "train"}
    curve = [{"step": r["step"], "valid_nll": r[metric], "train_loss": losses.get(r["step"]),
              "wall_s": r.get("time", 0.0) - rows[0].get("time", 0.0)}
             for r in rows if r.get("split") == "valid"]  # fmt: skip
    reason = {"early_stopping": f"early stopping (patience {plan.patience})",
              "time_limit": "wall budget", "": "max_steps"}[report.stopped]  # fmt: skip
    began = time.monotonic()
    test = score(report.run_dir, "test", plan.eval_batch_size)
    return {
        "family": plan.family,
        "seed": seed,
        "model": plan.notes,
        "steps": report.steps,
        "best_step": report.best.get("step"),
        "best_valid_nll": round(report.best.get("value", math.nan), 4),
        "stopped": reason,
        "trend_last_3_per_1000_steps": _trend(curve),
        "train_wall_s": round(train_s, 1),
        "test_eval_s": round(time.monotonic() - began, 1),
        "test": test,
        "curve": curve,
        "run_dir": report.run_dir,
    }


def _trend(curve: list[dict[str, Any]]) -> float | None:
    """The valid NLL's slope over the last three evaluations, per 1,000 steps (negative: still
    improving when the run stopped)."""
    if len(curve) < 3:
        return None
    steps = np.array([p["step"] for p in curve[-3:]], float)
    nlls = np.array([p["valid_nll"] for p in curve[-3:]], float)
    return round(float(np.polyfit(steps, nlls, 1)[0] * 1000), 4)


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _per_seed(values: list[Any]) -> str:
    """One cell for a family's seeds: the value when they agree, else each seed's in seed
    order ("7000 / 6250")."""
    return str(values[0]) if len(set(map(str, values))) == 1 else " / ".join(map(str, values))


def full_markdown(result: dict[str, Any], published: dict[str, list[Any]]) -> list[str]:
    """Per dataset: each family's median test NLL over seeds, the spread, then per seed (one
    value where they agree) the train pieces, steps, best-valid step, why it stopped and the
    trend; the wall time summed over seeds; with the published anchor targets."""
    lines: list[str] = []
    for name, rows in result["datasets"].items():
        lines += [f"## {name} (budget full)", "",
                  "| family | test NLL (median) | spread | seeds | train pieces | steps | "
                  "best step | stopped | valid trend /1k steps | wall s | model |",
                  "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|"]  # fmt: skip
        by_family: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_family.setdefault(row["family"], []).append(row)
        for family, group in by_family.items():
            metric = "chord_nll_per_frame" if family == "chord_lstm" else "nll_per_frame"
            group = sorted(group, key=lambda r: r.get("seed", 0))
            nlls = [r["test"][metric] for r in group]
            spread = f"{min(nlls):.3f}–{max(nlls):.3f}" if len(nlls) > 1 else "-"
            trends = [r["trend_last_3_per_1000_steps"] for r in group]
            lines.append(
                f"| {family} | {statistics.median(nlls):.2f} | {spread} | {len(group)} | "
                f"{_per_seed([_count(r.get('train_examples')) for r in group])} | "
                f"{_per_seed([r.get('steps', '-') for r in group])} | "
                f"{_per_seed([r['best_step'] for r in group])} | "
                f"{_per_seed([r['stopped'] for r in group])} | "
                f"{_per_seed(['-' if t is None else f'{t:+.3f}' for t in trends])} | "
                f"{sum(r['train_wall_s'] for r in group):.0f} | {group[-1]['model']} |"
            )
        anchors = "; ".join(f"{m} {v:.2f}" for m, _, v in published.get(name, []))
        lines += ["", f"Published: {anchors}.", ""]
    if lines:
        lines += ["Train pieces: the training records a row learned from; with the "
                  "transposition, each training piece in 7 keys less the copies that would "
                  "leave the 88 keys, so a row showing the split's own count was not "
                  "augmented.", ""]  # fmt: skip
    return lines
