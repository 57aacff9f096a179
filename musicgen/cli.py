"""The `musicgen` command line; `jobs/*.py` call `main` so every entry point shares its options."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from musicgen import __version__, logs
from musicgen.config import (
    EXAMPLE_FORMATS,
    PARSERS,
    ConvertConfig,
    ExamplesConfig,
    deep_merge,
    dotted,
    from_dict,
)
from musicgen.corpus.sources import ACCEPTED
from musicgen.errors import EXIT_OK, ConfigError, JobFailed, MusicgenError

log = logging.getLogger("musicgen.cli")


def build_parser() -> argparse.ArgumentParser:
    """All subcommands and their options."""
    parser = argparse.ArgumentParser(prog="musicgen", description=__doc__)
    parser.add_argument("--version", action="version", version=f"musicgen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    convert = sub.add_parser(
        "convert",
        help="MIDI/MusicXML/ABC corpus -> sharded TFRecords of NoteSequences",
        description=f"Converts every {ACCEPTED} file under INPUT (a folder or "
        "gs://bucket/prefix, recursively) into NoteSequence TFRecord shards in OUTPUT, with "
        "stats.json and failures.jsonl. Exit 0: done; 1: failures over --max-failure-ratio; "
        "2: bad arguments or no corpus.",
    )
    convert.add_argument("input", help="corpus folder or gs://bucket/prefix")
    convert.add_argument("output", help="output folder or gs://bucket/prefix")
    convert.add_argument("--collection", help="collection name in ids (default: INPUT's name)")
    convert.add_argument(
        "--files-per-shard", type=int, help="files per output shard (default: from corpus size)"
    )
    convert.add_argument(
        "--max-failure-ratio", type=float, help="exit 1 if failed/inputs exceeds this (0.05)"
    )
    convert.add_argument("--max-file-bytes", type=int, help="skip larger files (64 MiB)")
    convert.add_argument("--parser", choices=PARSERS, help="MIDI parser (fast)")
    convert.add_argument(
        "--lenient",
        action="store_true",
        default=None,
        help="also convert MIDI that Magenta rejects but players read (unknown chunks, running "
        "status after SysEx), repaired first and counted as recovered (default: Magenta's verdict)",
    )
    convert.add_argument("--address", help="Ray cluster address (default: embedded local Ray)")
    convert.add_argument("--num-cpus", type=int, help="CPUs for the embedded local Ray")
    _add_common(convert)

    examples = sub.add_parser(
        "examples",
        help="NoteSequence shards -> training examples (SequenceExamples) per split",
        description="Turns the NoteSequence TFRecords under INPUT (ours or Magenta's; a folder, "
        "gs:// prefix or one file; or a B-L benchmark .pickle) into SequenceExample shards in "
        "OUTPUT/train and OUTPUT/eval (train/valid/test for the benchmarks), with "
        "encoding.json, stats.json and failures.jsonl. Exit 0: done; 1: failures over "
        "--max-failure-ratio; 2: bad arguments or no input.",
    )
    examples.add_argument(
        "input", help="NoteSequence TFRecord folder/file, gs:// prefix, or .pickle"
    )
    examples.add_argument("output", help="output folder or gs://bucket/prefix")
    examples.add_argument(
        "--encoding",
        help="a PerformanceRNN config (performance_with_dynamics, ...) or pianoroll",
    )
    examples.add_argument("--format", choices=EXAMPLE_FORMATS, help="record format (compact)")
    examples.add_argument(
        "--eval-ratio", type=float, help="share of sequences (by id hash) sent to eval (0.1)"
    )
    augmenting = examples.add_mutually_exclusive_group()
    augmenting.add_argument(
        "--no-augment",
        dest="augment",
        action="store_const",
        const=False,
        help="skip the training split's stretch and transposition",
    )
    augmenting.add_argument(
        "--augment",
        dest="augment",
        action="store_const",
        const=True,
        help="augment the training split also for a B-L .pickle (transposed -3..+3 semitones); "
        "pickles are not augmented unless asked, NoteSequences are unless --no-augment",
    )
    examples.add_argument("--steps-per-quarter", type=int, help="piano-roll resolution (4)")
    examples.add_argument(
        "--max-failure-ratio", type=float, help="exit 1 if failed/inputs exceeds this (0.05)"
    )
    examples.add_argument("--address", help="Ray cluster address (default: embedded local Ray)")
    examples.add_argument("--num-cpus", type=int, help="CPUs for the embedded local Ray")
    _add_common(examples)

    train = sub.add_parser(
        "train",
        help="training examples -> a trained model in <runs_dir>/<family>/<run_id>/",
        description="Trains a model family on the examples in DATASET with Ray Train "
        "(data-parallel over --num-workers workers), writing config.resolved.yaml, "
        "checkpoints/, metrics.jsonl, tensorboard/ and model.keras to the run directory. "
        "Re-using a --run-id resumes that run from its newest checkpoint. Exit 0: done; "
        "1: diverged or failed after retries; 2: bad config or no dataset.",
    )
    train.add_argument("--dataset", help="the folder `musicgen examples` wrote (or gs://)")
    train.add_argument("--num-workers", type=int, help="Ray Train workers (1)")
    train.add_argument("--num-steps", type=int, help="optimizer steps in all (1000)")
    train.add_argument("--run-id", help="the run's name (default: the UTC time); reuse resumes")
    train.add_argument("--runs-dir", help="parent of the run directories (runs)")
    train.add_argument("--use-gpu", action="store_const", const=True, help="one GPU per worker")
    train.add_argument("--address", help="Ray cluster address (default: embedded local Ray)")
    train.add_argument("--num-cpus", type=int, help="CPUs for the embedded local Ray")
    train.add_argument(
        "--patience",
        type=int,
        help="early stopping: stop after this many evaluations (every --set eval_every=N "
        "steps) without a better early_stopping.metric (loss); model.keras is then the best "
        "evaluated model (0: off)",
    )
    train.add_argument(
        "--max-minutes",
        type=float,
        help="stop cleanly after this many minutes (checkpoint and model.keras written); "
        "running it again resumes",
    )
    train.add_argument(
        "--init-from",
        metavar="RUN_DIR",
        help="fine-tune: start from this run's weights and model (a trained run, or one "
        "`musicgen import-magenta` wrote); its encoding must be the dataset's",
    )
    _add_common(train)
    from musicgen import cli_generate

    cli_generate.add_parsers(sub, _add_common)
    from musicgen import cli_magenta

    cli_magenta.add_parsers(sub)
    from musicgen import cli_pretrain

    cli_pretrain.add_parsers(sub, _add_common)
    from musicgen.schedule import launcher  # imports no kubernetes/TF/Ray until it runs

    schedule = sub.add_parser(
        "schedule-generation",
        help="create, await and prune this schedule slot's generation RayJob (run by the CronJob)",
    )
    launcher.add_arguments(schedule)
    return parser


def _add_common(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--config", action="append", default=[], metavar="YAML", help="YAML overrides (repeatable)"
    )
    sub.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="one override (repeatable)"
    )
    sub.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")


def resolve_config(
    cls: type[Any],
    args: argparse.Namespace,
    flags: dict[str, Any],
    base: dict[str, Any] | None = None,
) -> Any:
    """Merges YAML files, then --set, then explicit flags, into a validated config.

    ``base`` goes under everything (and under each YAML file's own check), for a value that
    the config cannot be valid without, such as train's ``--dataset``.
    """
    import yaml

    merged: dict[str, Any] = dict(base or {})
    sources = []
    for path in args.config:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read config: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        from_dict(cls, deep_merge({**_required_placeholders(cls), **merged}, loaded), source=path)
        merged = deep_merge(merged, loaded)
        sources.append(path)
    for item in args.set:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        merged = deep_merge(merged, dotted(key.strip(), yaml.safe_load(raw)))
    for key, value in flags.items():
        if value is not None:
            merged = deep_merge(merged, dotted(key, value))
    return from_dict(cls, merged, source=" + ".join(["command line", *sources]))


def _required_placeholders(cls: type[Any]) -> dict[str, Any]:
    # Lets a YAML file be checked alone before the positional arguments are merged in.
    return {
        f.name: "?"
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }


def run_convert(args: argparse.Namespace) -> int:
    """`musicgen convert`."""
    flags = {
        "input": args.input,
        "output": args.output,
        "collection": args.collection,
        "files_per_shard": args.files_per_shard,
        "max_failure_ratio": args.max_failure_ratio,
        "max_file_bytes": args.max_file_bytes,
        "parser": args.parser,
        "lenient": args.lenient,
        "address": args.address,
        "num_cpus": args.num_cpus,
    }
    cfg = resolve_config(ConvertConfig, args, flags)
    if args.dry_run:
        print(json.dumps(dataclasses.asdict(cfg), indent=2))
        return EXIT_OK
    from musicgen.corpus import midi_repair
    from musicgen.corpus.pipeline import convert_corpus

    report = convert_corpus(cfg)
    print(report.summary())
    for status in ("failed", "skipped"):
        for reason, count in report.stats.reasons.get(status, Counter()).most_common():
            print(f"  {status}: {reason}: {count}")
    recoverable = sum(report.stats.reasons["failed"][r] for r in midi_repair.RECOVERABLE)
    if recoverable and not cfg.lenient:
        print(f"  {recoverable} of the failed files are recoverable: see --lenient")
    if report.stats.failure_ratio > cfg.max_failure_ratio:
        raise JobFailed(
            f"{report.stats.failed}/{report.stats.inputs} files failed "
            f"({report.stats.failure_ratio:.1%} > max_failure_ratio {cfg.max_failure_ratio:.1%}); "
            f"see failures.jsonl in {cfg.output}"
        )
    return EXIT_OK


def run_examples(args: argparse.Namespace) -> int:
    """`musicgen examples`."""
    flags = {
        "input": args.input,
        "output": args.output,
        "encoding": args.encoding,
        "format": args.format,
        "eval_ratio": args.eval_ratio,
        "augment": args.augment,
        "steps_per_quarter": args.steps_per_quarter,
        "max_failure_ratio": args.max_failure_ratio,
        "address": args.address,
        "num_cpus": args.num_cpus,
    }
    cfg = resolve_config(ExamplesConfig, args, flags)
    from musicgen.examples.pipeline import check_encoding, make_examples

    check_encoding(cfg)
    if args.dry_run:
        print(json.dumps(dataclasses.asdict(cfg), indent=2))
        return EXIT_OK
    report = make_examples(cfg)
    print(report.summary())
    for outcome in ("failed", "skipped"):
        for reason, count in report.stats.reasons.get(outcome, {}).items():
            print(f"  {outcome}: {reason}: {count}")
    if report.stats.failure_ratio > cfg.max_failure_ratio:
        raise JobFailed(
            f"{report.stats.failed}/{report.stats.inputs} sequences failed "
            f"({report.stats.failure_ratio:.1%} > max_failure_ratio {cfg.max_failure_ratio:.1%}); "
            f"see failures.jsonl in {cfg.output}"
        )
    return EXIT_OK


def run_train(args: argparse.Namespace) -> int:
    """`musicgen train`."""
    from musicgen.train.config import TrainConfig

    flags = {
        "num_workers": args.num_workers,
        "num_steps": args.num_steps,
        "run_id": args.run_id,
        "runs_dir": args.runs_dir,
        "use_gpu": args.use_gpu,
        "address": args.address,
        "num_cpus": args.num_cpus,
        "init_from": args.init_from,
        "early_stopping.patience": args.patience,
        "max_minutes": args.max_minutes,
    }
    base = {"data": {"dataset": args.dataset}} if args.dataset else None
    cfg = resolve_config(TrainConfig, args, flags, base)
    if args.dry_run:  # only the model keys that apply to the chosen family
        resolved = dataclasses.asdict(cfg) | {"model": cfg.model.applicable()}
        print(json.dumps(resolved, indent=2))
        return EXIT_OK
    from musicgen.train.driver import check_inputs, train

    check_inputs(cfg)
    report = train(cfg)
    print(report.summary())
    return EXIT_OK


def run_generate(args: argparse.Namespace) -> int:
    """`musicgen generate`."""
    from musicgen import cli_generate

    return cli_generate.run_generate(args, resolve_config)


def run_pull(args: argparse.Namespace) -> int:
    """`musicgen pull`."""
    from musicgen import cli_generate

    return cli_generate.run_pull(args)


def run_render(args: argparse.Namespace) -> int:
    """`musicgen render`."""
    from musicgen import cli_generate

    return cli_generate.run_render(args)


def run_import_magenta(args: argparse.Namespace) -> int:
    """`musicgen import-magenta`."""
    from musicgen import cli_magenta

    return cli_magenta.run_import(args)


def run_export_magenta(args: argparse.Namespace) -> int:
    """`musicgen export-magenta`."""
    from musicgen import cli_magenta

    return cli_magenta.run_export(args)


def run_schedule_generation(args: argparse.Namespace) -> int:
    """`musicgen schedule-generation`."""
    from musicgen.schedule import launcher

    return launcher.run_from_args(args)


def run_pretrain_endecell(args: argparse.Namespace) -> int:
    """`musicgen pretrain-endecell`."""
    from musicgen import cli_pretrain

    return cli_pretrain.run_pretrain_endecell(args)


COMMANDS = {
    "schedule-generation": run_schedule_generation,
    "convert": run_convert,
    "examples": run_examples,
    "train": run_train,
    "generate": run_generate,
    "pull": run_pull,
    "render": run_render,
    "import-magenta": run_import_magenta,
    "export-magenta": run_export_magenta,
    "pretrain-endecell": run_pretrain_endecell,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one subcommand and returns the process exit code (0, 1 or 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(args.verbose)
    try:
        return COMMANDS[args.command](args)
    except MusicgenError as exc:
        print(f"musicgen {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
