"""Test NLL of every piano-roll family on the B-L benchmarks, beside the published numbers.

    .venv/bin/python benchmarks/quality.py            # sized for a 2-core CPU, ~25 minutes
    .venv/bin/python benchmarks/quality.py --quick    # CI: tiny models, ~20 steps, JSB only
    .venv/bin/python benchmarks/quality.py --families endecell seq2one_lstm --merge  # new rows

For each dataset (JSB Chorales, Nottingham, Piano-midi.de; their official train/valid/test
splits, via ``make_benchmark_examples``) each family is trained with the real ``train(cfg)`` (1
Ray worker, embedded Ray) for a fixed number of steps, then its ``model.keras`` is scored on
the *whole* test split, as whole pieces, by summing ``family.batch_stats``. The piano-roll
families (pianoroll_lstm, biaxial_lstm, seq2seq_lstm) report ``nll_per_frame``: nats per frame
summed over the 88 keys, every frame but each piece's first (TCN's ``music_test.py`` protocol);
all three score exactly the same frames. chord_lstm is reported separately: its NLL is over chord
classes, not 88-key frames, so it is not comparable to the others or to the papers.

The budgets are steps, chosen so that the whole default run fits about 25 minutes of a shared
2-core CPU; they are far below the papers' training (our figures are honest short-budget
figures, not reproductions). Writes ``<out>.json`` and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from musicgen.config import ExamplesConfig  # noqa: E402
from musicgen.train.config import TrainConfig  # noqa: E402

log = logging.getLogger("quality")

# The big benchmark data (README "Development"): $MUSICGEN_DATA, else ../shared beside the checkout.
DATA = Path(os.environ.get("MUSICGEN_DATA") or REPO.parent / "shared")
POLYPHONIC = DATA / "datasets" / "polyphonic"
DATASETS = ("JSB_Chorales", "Nottingham", "Piano-midi.de")
ROLL_FAMILIES = ("pianoroll_lstm", "biaxial_lstm", "seq2seq_lstm", "endecell", "seq2one_lstm")
FAMILIES = (*ROLL_FAMILIES, "chord_lstm")
REFERENCE = "shared/reference/benchmarks-and-data.md"
RESULTS = REPO / "benchmarks" / "results"

# Published test NLL (nats per frame, 88-key sum; B-L and Johnson print LL = -NLL), from
# shared/reference/benchmarks-and-data.md. Keys: dataset -> (model, source, NLL) rows.
PUBLISHED: dict[str, list[tuple[str, str, float]]] = {
    "JSB_Chorales": [
        ("LSTM", "Bai et al. 2018 (TCN), Table 1", 8.45),
        ("TCN", "Bai et al. 2018 (TCN), Table 1", 8.10),
        ("RNN", "Boulanger-Lewandowski et al. 2012, Table 1", 8.71),
        ("RNN (HF)", "Boulanger-Lewandowski et al. 2012, Table 1", 8.58),
        ("RNN-NADE (HF)", "Boulanger-Lewandowski et al. 2012, Table 1", 5.56),
        ("BALSTM best", "Johnson 2017, Table 1", 5.05),
        ("BALSTM median", "Johnson 2017, Table 1", 5.86),
        ("DBN-LSTM", "Vohra et al. 2015 (via Johnson 2017)", 3.47),
        ("Random", "Boulanger-Lewandowski et al. 2012, Table 1", 61.00),
    ],
    "Nottingham": [
        ("LSTM", "Bai et al. 2018 (TCN), Table 1", 3.29),
        ("TCN", "Bai et al. 2018 (TCN), Table 1", 3.07),
        ("RNN", "Boulanger-Lewandowski et al. 2012, Table 1", 4.46),
        ("RNN (HF)", "Boulanger-Lewandowski et al. 2012, Table 1", 3.89),
        ("RNN-NADE (HF)", "Boulanger-Lewandowski et al. 2012, Table 1", 2.31),
        ("BALSTM best", "Johnson 2017, Table 1", 1.55),
        ("BALSTM median", "Johnson 2017, Table 1", 1.62),
        ("DBN-LSTM", "Vohra et al. 2015 (via Johnson 2017)", 1.32),
        ("Random", "Boulanger-Lewandowski et al. 2012, Table 1", 61.00),
    ],
    "Piano-midi.de": [
        ("RNN", "Boulanger-Lewandowski et al. 2012, Table 1", 8.37),
        ("RNN (HF)", "Boulanger-Lewandowski et al. 2012, Table 1", 7.66),
        ("RNN-NADE (HF)", "Boulanger-Lewandowski et al. 2012, Table 1", 7.05),
        ("BALSTM best", "Johnson 2017, Table 1", 4.90),
        ("BALSTM median", "Johnson 2017, Table 1", 5.00),
        ("DBN-LSTM", "Vohra et al. 2015 (via Johnson 2017)", 4.63),
        ("Random", "Boulanger-Lewandowski et al. 2012, Table 1", 61.00),
    ],
}
# The published rows each family is most directly compared with (same factorisation).
ANCHORS = {
    "pianoroll_lstm": ("LSTM", "RNN (HF)"),
    "seq2seq_lstm": ("LSTM", "RNN (HF)"),
    "biaxial_lstm": ("BALSTM median", "BALSTM best"),
    # Autoregressive over the keys of a frame, as NADE and the biaxial note axis are.
    "endecell": ("RNN-NADE (HF)", "BALSTM median"),
    # The frame target's on/off marginal (P(start) + P(continue)) per key: the LSTM's space.
    "seq2one_lstm": ("LSTM", "RNN (HF)"),
}


@dataclass(frozen=True)
class Plan:
    """One training run: family, model, windows, batch and step budget."""

    family: str
    model: dict[str, Any]
    steps: int
    batch_size: int = 16
    window: int | None = None
    hop: int | None = None
    learning_rate: float = 2e-3
    eval_batch_size: int = 8
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def plans(dataset: str, quick: bool) -> list[Plan]:
    """The runs of one dataset (2 bars = 8 frames on JSB's quarter grid, 16 on the others')."""
    jsb = dataset == "JSB_Chorales"
    bar = 4 if jsb else 8
    if quick:
        return [
            Plan("pianoroll_lstm", {"layers": (16,)}, 20, 8, 32),
            Plan("biaxial_lstm", {"time_layers": (8,), "note_layers": (8,)}, 20, 4, 16,
                 eval_batch_size=4),
            Plan("seq2seq_lstm", {"layers": (16,), "seq2seq_window": 8}, 20, 8, 32),
            Plan("chord_lstm", {"layers": (16,), "embedding_dim": 8}, 20, 8, 2 * bar),
            Plan("endecell", {"encoder_size": 8, "time_layers": (16,), "decoder_size": 8,
                              "key_chunk": 4}, 20, 8, 32),
            # Its 3-way softmax starts far above chance (P(on) = 2/3 per key: ~90 nats a
            # frame), so its few steps take a larger learning rate.
            Plan("seq2one_lstm", {"target": "frame", "layers": (16,), "dense_size": 8,
                                  "window": 4}, 20, 8, 32, learning_rate=2e-2),
        ]  # fmt: skip
    scale = {"JSB_Chorales": 1.0, "Nottingham": 1.0, "Piano-midi.de": 0.4}[dataset]
    window, hop = (None, None) if jsb else (64, 32)

    def steps(n: int) -> int:
        return max(20, int(n * scale))

    return [
        Plan("pianoroll_lstm", {"layers": (150, 150), "dropout": 0.3}, steps(1500), 16,
             window, hop, notes="2 x 150 LSTM (TCN's LSTM: ~300K parameters)"),
        Plan("biaxial_lstm", {"time_layers": (64, 64), "note_layers": (32, 32), "dropout": 0.5},
             steps(700), 8, 32, 16, learning_rate=1e-3, eval_batch_size=2,
             notes="time 2 x 64, note 2 x 32 (Johnson: 2 x 200 / 2 x 100), dropout 0.5"),
        Plan("seq2seq_lstm", {"layers": (150,), "seq2seq_window": 4 * bar, "dropout": 0.3},
             steps(1500), 16, window, hop,
             notes=f"encoder 1 x 150, decoder 1 x 150, chunks of {4 * bar} frames (4 bars)"),
        Plan("chord_lstm", {"layers": (128,), "embedding_dim": 32, "dropout": 0.3},
             steps(1500), 32, 2 * bar, bar, eval_batch_size=8,
             notes=f"1 x 128 LSTM over the chord vocabulary, windows of {2 * bar} (2 bars)"),
        Plan("endecell", {"encoder_size": 32, "time_layers": (150,), "decoder_size": 32,
                          "key_chunk": 4, "dropout": 0.3}, steps(2000), 16, 32, 16,
             notes="encoder 32, time 1 x 150, decoder 32, 4 keys per key step (22 a frame), "
             "windows of 32 frames"),
        Plan("seq2one_lstm", {"target": "frame", "layers": (150,), "dense_size": 128,
                              "window": 2 * bar, "dropout": 0.3}, steps(800), 16, window, hop,
             notes=f"frame target, 1 x 150 LSTM over the {2 * bar} frames before, dense 128"),
    ]  # fmt: skip


def make_dataset(
    name: str, work: Path, augment: bool = False, source_dir: Path = POLYPHONIC
) -> Path:
    """The benchmark's train/valid/test shards (and chords.json) under ``work``; ``augment``:
    the training split transposed by -3..+3 semitones too. Shards already there are reused
    only when their ``encoding.json`` records the same transpositions."""
    from musicgen.encodings.augment import TRAINING_TRANSPOSITIONS
    from musicgen.examples.benchmark_datasets import make_benchmark_examples

    source = source_dir / f"{name}.pickle"
    if not source.exists():
        raise FileNotFoundError(f"benchmark pickle missing: {source}")
    out = work / "examples" / name
    wanted = list(TRAINING_TRANSPOSITIONS) if augment else [0]
    encoding = out / "encoding.json"
    if not encoding.exists() or json.loads(encoding.read_text()).get("transpositions") != wanted:
        make_benchmark_examples(ExamplesConfig(input=str(source), output=str(out),
                                               encoding="pianoroll", augment=augment))  # fmt: skip
    return out


def train_examples(dataset: Path) -> int:
    """Training records in ``dataset`` (with its transposed copies), from its ``stats.json``."""
    return int(json.loads((dataset / "stats.json").read_text())["examples"]["train"])


def train_and_score(plan: Plan, dataset: Path, runs: Path, seed: int) -> dict[str, Any]:
    """Trains one plan with the real trainer, then scores its model on the whole test split."""
    from benchmarks.quality_full import benchmark_config

    cfg = benchmark_config(
        plan.family, plan.model, dataset, plan.window, plan.hop, plan.learning_rate,
        runs_dir=str(runs), run_id=f"{dataset.name}-s{seed}", batch_size=plan.batch_size,
        num_steps=plan.steps, log_every=max(1, plan.steps // 10), eval_batches=4,
        checkpoint_every=plan.steps, keep_checkpoints=1, seed=seed,
    )  # fmt: skip
    started = time.monotonic()
    report = _train_retrying(cfg)
    train_s = time.monotonic() - started
    began = time.monotonic()
    test, params = score_test(report.run_dir, plan.eval_batch_size)
    return {
        "family": plan.family,
        "steps": report.steps,
        "batch_size": plan.batch_size,
        "window": plan.window,
        "train_wall_s": round(train_s, 1),
        "test_eval_s": round(time.monotonic() - began, 1),
        "parameters": params,
        "model": plan.notes or plan.model,
        "final_train": _floats(report.train),
        "valid_4_batches": _floats(report.eval),
        "test": test,
        "run_dir": report.run_dir,
    }


def _train_retrying(cfg: TrainConfig) -> Any:
    """``train(cfg)``; once more on a fresh embedded Ray if Ray itself died (a shared machine's
    Ray can be killed under us); the retry resumes the run from its newest checkpoint."""
    import ray

    from musicgen.ray_tasks import init_ray
    from musicgen.train.driver import train

    try:
        return train(cfg)
    except ray.exceptions.RayError as exc:
        log.warning("Ray failed under %s (%s); restarting Ray and retrying once", cfg.run_id, exc)
        ray.shutdown()
        init_ray(None, 2)
        return train(cfg)


def score_test(run_dir: str, batch_size: int) -> tuple[dict[str, float], int]:
    """The run's model over every test piece, whole: summed batch stats, summarized."""
    return score_split(run_dir, "test", batch_size)


def score_split(
    run_dir: str, split: str, batch_size: int, model_file: str | None = None
) -> tuple[dict[str, float], int]:
    """The run's model (or the checkpoint ``model_file``) over every piece of ``split``."""
    import keras

    from musicgen import storage
    from musicgen.examples.readers import list_shards
    from musicgen.generate.loaded_run import load_run
    from musicgen.models.registry import get_family
    from musicgen.train.metrics import add_totals
    from musicgen.train.step import make_eval_step

    run = load_run(run_dir)
    family = get_family(run.family)
    model = run.model
    if model_file is not None:
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "checkpoint.keras"
            local.write_bytes(storage.read_bytes(model_file))
            model = keras.saving.load_model(
                local, custom_objects=family.custom_objects(), compile=False
            )
    data = dataclasses.replace(run.config.data, window=None, hop=None)
    files = list_shards(data.dataset, split)
    ds = family.dataset(files, run.info, data, batch_size=batch_size, training=False, seed=0,
                        num_shards=1, shard_index=0)  # fmt: skip
    step = make_eval_step(family, model)
    totals: dict[str, float] = {}
    for batch in ds:
        add_totals(totals, ((k, float(v)) for k, v in step(batch).items()))
    summary = family.summarize(totals)
    summary["scored_frames"] = totals["nll_weight"]
    return _floats(summary), int(model.count_params())


def _floats(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, float):
            out[key] = round(value, 4) if math.isfinite(value) else None
        elif isinstance(value, int | str | bool) or value is None:
            out[key] = value
    return out


def markdown(result: dict[str, Any]) -> str:
    """The tables: piano-roll families beside the published rows, then the chord LSTM."""
    lines = [
        "# Piano-roll benchmarks: test NLL beside the published numbers",
        "",
        f"Mode `{result['mode']}`, {result['machine']}, total {result['total_wall_s']:.0f} s. "
        "Test NLL = nats per frame summed over the 88 keys, averaged over every test frame but "
        "each piece's first (whole pieces, the official B-L test split; lower is better; "
        f"B-L and Johnson print LL = -NLL). Published numbers from `{REFERENCE}`.",
        "",
        "Our models are trained for the step budgets shown (minutes on a shared 2-core CPU), "
        "far below the papers' training: they are short-budget figures, not reproductions."
        if result["mode"] != "full"
        else "Budget `full`: published sizes and dropout, the training split augmented by "
        "transposition (-3..+3 semitones), one trainer run per row with early stopping on the "
        "whole valid split, its best-valid model scored on the whole test split; a row stopped "
        "by its wall budget (`--row-minutes`) shows its valid NLL's trend over the last three "
        "evaluations (negative: still improving).",
        "",
    ]
    walls = result.get("dataset_wall_s", {})
    if walls:
        lines += ["Wall time per dataset (examples, training, test scoring): " + ", ".join(
            f"{k} {v:.0f} s" for k, v in walls.items() if v is not None) + ".", ""]  # fmt: skip
    if result.get("merged_from_earlier_runs"):
        lines += [f"Rows {', '.join(result['merged_from_earlier_runs'])} come from earlier "
                  "invocations of the same script and settings (`--merge`); wall times add "
                  "them up.", ""]  # fmt: skip
    if result["mode"] == "full":
        from benchmarks.quality_full import full_markdown

        return "\n".join(lines + full_markdown(result, PUBLISHED)) + "\n"
    for name, rows in result["datasets"].items():
        lines += [f"## {name}", "",
                  "| family | test NLL | frame acc. | steps | train wall s | params | "
                  "published anchor (NLL) |",
                  "|---|---:|---:|---:|---:|---:|---|"]  # fmt: skip
        published = {m: v for m, _, v in PUBLISHED[name]}
        for row in rows:
            if row["family"] not in ROLL_FAMILIES:
                continue
            anchors = ", ".join(
                f"{m} {published[m]:.2f}" for m in ANCHORS[row["family"]] if m in published
            )
            test = row["test"]
            lines.append(
                f"| {row['family']} | {test['nll_per_frame']:.2f} | "
                f"{test['frame_accuracy']:.3f} | {row['steps']} | {row['train_wall_s']:.0f} | "
                f"{row['parameters']:,} | {anchors or '-'} |"
            )
        lines += ["", "Published context: " + "; ".join(
            f"{m} {v:.2f} ({src})" for m, src, v in PUBLISHED[name]) + ".", ""]  # fmt: skip
    lines += [
        "## chord_lstm (not comparable)",
        "",
        "NLL over chord classes (the training split's chord vocabulary plus an "
        "out-of-vocabulary class), nats per frame; a different event space from the 88-key "
        "numbers above, so no published anchor.",
        "",
        "| dataset | chord NLL | accuracy | test OOV rate | classes | steps | train wall s "
        "| params |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rows in result["datasets"].items():
        for row in rows:
            if row["family"] != "chord_lstm":
                continue
            test = row["test"]
            lines.append(
                f"| {name} | {test['chord_nll_per_frame']:.2f} | {test['accuracy']:.3f} | "
                f"{test['oov_rate']:.3f} | {row.get('classes', '-')} | {row['steps']} | "
                f"{row['train_wall_s']:.0f} | {row['parameters']:,} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--budget",
        choices=("quick", "default", "full"),
        default="default",
        help="quick: tiny models, ~20 steps, JSB only (CI); default: fixed "
        "short budgets (~25 min); full: published sizes, early stopping on "
        "valid, best checkpoint on test (hours; see benchmarks/quality_full.py)",
    )
    parser.add_argument("--quick", action="store_true", help="the same as --budget quick")
    parser.add_argument("--seeds", type=int, nargs="*", help="full budget: seeds (default: --seed)")
    parser.add_argument(
        "--row-minutes",
        type=float,
        default=10.0,
        help="full budget: wall minutes per family, dataset and seed",
    )
    parser.add_argument("--datasets", nargs="*", choices=DATASETS, help="default: all (quick: JSB)")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "musicgen-quality"),
                        help="examples and runs")  # fmt: skip
    parser.add_argument("--out", help="output prefix (default benchmarks/results/quality, "
                        "quick: <work>/quality_quick)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--families", nargs="*", choices=FAMILIES, help="default: all")
    parser.add_argument("--merge", action="store_true",
                        help="keep the rows already in <out>.json of the datasets and families "
                        "not run now")  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.budget = "quick"
    args.quick = args.budget == "quick"
    full = args.budget == "full"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from musicgen.ray_tasks import init_ray

    work = (
        Path(args.work) / {"quick": "quick", "default": "full", "full": "full_budget"}[args.budget]
    )
    out = Path(args.out or (Path(args.work) / "quality_quick" if args.quick
                            else RESULTS / ("quality_full" if full else "quality")))  # fmt: skip
    command = " ".join(["benchmarks/quality.py", *(argv if argv is not None else sys.argv[1:])])
    names = args.datasets or (["JSB_Chorales"] if args.quick else list(DATASETS))
    for pickle in (POLYPHONIC / f"{name}.pickle" for name in names):
        if not pickle.exists():
            print(
                f"benchmark data missing: {pickle} (a B-L benchmark pickle; set MUSICGEN_DATA)",
                file=sys.stderr,
            )
            sys.exit(2)
    families = args.families or FAMILIES
    run_ids = [f"{name}-full-s{seed}" if full else f"{name}-s{seed}"
               for name in names for seed in (args.seeds or [args.seed])]  # fmt: skip
    for run_id in run_ids:  # fresh runs: never a resumed or finished one
        for family in families:
            shutil.rmtree(work / "runs" / family / run_id, ignore_errors=True)
    started = time.monotonic()
    init_ray(None, 2)
    import ray

    use_gpu = bool(ray.cluster_resources().get("GPU", 0))  # the same command on a GPU machine
    result: dict[str, Any] = {
        "mode": args.budget,
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores, 1 worker",
        "metric": "test NLL, nats per frame, 88-key sum, whole pieces, first frame unscored",
        "reference": REFERENCE,
        "published": {
            k: [{"model": m, "source": s, "nll": v} for m, s, v in rows]
            for k, rows in PUBLISHED.items()
            if k in names
        },
        "datasets": {},
        "dataset_wall_s": {},
        "commands": [command],
    }
    earlier_wall: dict[str, float] = {}
    if args.merge and out.with_suffix(".json").exists():
        old = json.loads(out.with_suffix(".json").read_text())
        seeds = set(args.seeds or [args.seed]) if full else None
        result["datasets"] = rows_kept(old["datasets"], names, families, seeds)
        # The rows kept, not the old totals: a row run again must not count twice.
        earlier_wall = {
            k: sum(r.get("train_wall_s", 0.0) + r.get("test_eval_s", 0.0) for r in rows)
            for k, rows in result["datasets"].items()
        }
        result["dataset_wall_s"] = dict(earlier_wall)
        result["published"] = {**old["published"], **result["published"]}
        result["commands"] = [*old.get("commands", []), command]
        result["merged_from_earlier_runs"] = list(dict.fromkeys(
            f"{k}/{r['family']}" for k, rows in result["datasets"].items() for r in rows
        ))  # fmt: skip
    for name in names:
        dataset_started = time.monotonic()
        dataset = make_dataset(name, work, augment=full)
        rows = result["datasets"].get(name, [])
        if full:
            from benchmarks.quality_full import full_plans, train_early_stopping

            def score(run_dir: str, split: str, batch: int) -> Any:
                return score_split(run_dir, split, batch)[0]

            for full_plan in (p for p in full_plans(name) if p.family in families):
                for seed in args.seeds or [args.seed]:
                    log.info("%s: %s, seed %d, full budget", name, full_plan.family, seed)
                    row = train_early_stopping(
                        full_plan, dataset, work / "runs", seed, args.row_minutes * 60,
                        use_gpu, _train_retrying, score,
                    )  # fmt: skip
                    row["train_examples"] = train_examples(dataset)
                    rows = [r for r in rows
                            if (r["family"], r.get("seed")) != (row["family"], seed)]  # fmt: skip
                    rows.append(row)
                    result["datasets"][name] = rows
                    result["dataset_wall_s"][name] = round(
                        earlier_wall.get(name, 0.0) + time.monotonic() - dataset_started, 1
                    )
                    result["total_wall_s"] = round(
                        time.monotonic() - started + sum(earlier_wall.values()), 1
                    )
                    _write(out, result)
            continue
        for plan in (p for p in plans(name, args.quick) if p.family in families):
            log.info("%s: training %s for %d steps", name, plan.family, plan.steps)
            row = train_and_score(plan, dataset, work / "runs", args.seed)
            if plan.family == "chord_lstm":
                from musicgen.models.chord_lstm import read_vocabulary

                row["classes"] = read_vocabulary(str(dataset / "chords.json")).size
            log.info("%s %s: test %s (%.0f s)", name, plan.family, row["test"],
                     row["train_wall_s"])  # fmt: skip
            rows.append(row)
            result["datasets"][name] = rows
            result["dataset_wall_s"][name] = round(
                earlier_wall.get(name, 0.0) + time.monotonic() - dataset_started, 1
            )
            result["total_wall_s"] = round(
                time.monotonic() - started + sum(earlier_wall.values()), 1
            )
            _write(out, result)  # after every run, so a cut-short run leaves its figures
    print(markdown(result))
    return 0


def rows_kept(
    datasets: dict[str, list[dict[str, Any]]],
    names: list[str],
    families: list[str],
    seeds: set[int] | None,
) -> dict[str, list[dict[str, Any]]]:
    """``--merge``: the earlier rows this invocation does not run again. A row goes when its
    dataset and family are asked for and, with ``seeds`` (the full budget's rows are per seed),
    its seed too: adding seeds to a family keeps the seeds it has."""

    def rerun(name: str, row: dict[str, Any]) -> bool:
        asked = name in names and row["family"] in families
        return asked and (seeds is None or row.get("seed", 0) in seeds)

    return {k: [r for r in rows if not rerun(k, r)] for k, rows in datasets.items()}


def _write(out: Path, result: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    if out.with_suffix("") in (RESULTS / "quality", RESULTS / "quality_full"):
        combined = combined_markdown(RESULTS / "quality.json", RESULTS / "quality_full.json")
        (RESULTS / "quality.md").write_text(combined)


def combined_markdown(default_json: Path, full_json: Path) -> str:
    """``results/quality.md``: the default budget's tables, then the full budget's, each with
    the commands that made them and their wall times."""
    parts = []
    for path in (default_json, full_json):
        if not path.exists():
            continue
        result = json.loads(path.read_text())
        text = markdown(result)
        if parts:  # the second document becomes a section of the first
            text = "\n".join(
                "#" + line if line.startswith("#") else line for line in text.splitlines()
            )
            text = text.replace("# Piano-roll benchmarks: test NLL beside the published numbers",
                                "# Full budget: the papers' protocol", 1) + "\n"  # fmt: skip
        commands = result.get("commands") or []
        if commands:
            head, sep, rest = text.partition("\n\n")
            runs = "\n".join(f"    .venv/bin/python {c}" for c in commands)
            made = "Made by (in this order; later rows replace earlier ones):"
            text = f"{head}\n\n{made}\n\n{runs}{sep}{rest}"
        parts.append(text)
    return "\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
