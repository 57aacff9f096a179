"""The generation subcommands of `musicgen`: generate, pull, render (wired into musicgen.cli)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from musicgen.errors import EXIT_OK, ConfigError


def add_parsers(sub: Any, add_common: Any) -> None:
    """Adds `generate`, `pull` and `render` to the subcommand parser."""
    gen = sub.add_parser(
        "generate",
        help="a batch of MIDI pieces from a trained run -> <output>/generated/<model>/<date>/<id>/",
        description="Generates --num-samples pieces from the run directory RUN on a Ray Data "
        "actor pool, writing <sample_id>.mid objects, manifest.jsonl (seed, settings, size, "
        "sha256, metrics) and report.json (written last: the batch is complete). Re-running "
        "the same --batch-id keeps what is there and generates only what is missing.",
    )
    # Required, but they may also come from a --config YAML, so argparse cannot enforce them:
    # the usage line and this group say so, and a missing one is a one-line error naming it.
    gen.usage = "musicgen generate --run RUN --output OUTPUT [options]"
    required = gen.add_argument_group("required (as flags or in a --config YAML)")
    required.add_argument("--run", help="training run directory (local or gs://)")
    required.add_argument("--output", help="root of generated/ (local or gs://)")
    for flag, kind, text in (
        ("--num-samples", int, "pieces in the batch (16)"),
        ("--batch-size", int, "pieces generated together per actor call (64)"),
        ("--batch-id", str, "the batch's name; re-use completes it (default: the time)"),
        ("--date", str, "YYYY-MM-DD folder (default: today, UTC)"),
        ("--model-name", str, "the <model> folder (default: <family>-<run id>)"),
        ("--seed", int, "base seed (0)"),
        ("--num-steps", int, "PerformanceRNN length in 10 ms steps, primer included (3000)"),
        ("--num-frames", int, "piano-roll frames to generate (128)"),
        ("--temperature", float, "sampling temperature (1.0)"),
        ("--top-k", int, "sample among the k likeliest tokens (0: off)"),
        ("--top-p", float, "nucleus sampling: smallest set with mass >= p (1.0: off)"),
        ("--beam-size", int, "Magenta beam search: beam size (1)"),
        ("--branch-factor", int, "Magenta beam search: branch factor (1)"),
        ("--steps-per-iteration", int, "Magenta beam search: steps per iteration (1)"),
        ("--loop-window", int, "with --argmax: sample when the last N tokens repeat (8)"),
        ("--notes-per-second", float, "density control (density-conditioned configs)"),
        ("--pitch-class-histogram", str, "12 comma-separated weights (pitch-conditioned)"),
        ("--primer", str, "a MIDI file to continue (local or gs://)"),
        ("--render", int, "render this many pieces as PNG/WAV (2)"),
        ("--compare-records", int, "held-out records for report.json's corpus comparison (200)"),
        ("--num-actors", int, "generator actors (default: one per CPU)"),
        ("--num-gpus", float, "GPUs per actor (0)"),
        ("--address", str, "Ray cluster address (default: embedded local Ray)"),
        ("--num-cpus", int, "CPUs for the embedded local Ray"),
    ):
        gen.add_argument(flag, type=kind, help=text)
    gen.add_argument("--argmax", action="store_const", const=True, help="argmax + loop-breaking")
    gen.add_argument("--disable-conditioning", action="store_const", const=True,
                     help="optional-conditioning configs: unconditioned")  # fmt: skip
    add_common(gen)

    pull = sub.add_parser(
        "pull",
        help="download a generated batch (verifying checksums, resumable)",
        description="Downloads the batch at SOURCE (a batch prefix, or with --latest the root "
        "that holds generated/) into the local folder DEST, verifying every sha256 against "
        "manifest.jsonl and skipping files already there. Refuses incomplete batches.",
    )
    pull.add_argument("source", help="gs://bucket/generated/<model>/<date>/<batch> (or a root)")
    pull.add_argument("dest", help="local folder")
    pull.add_argument(
        "--latest", action="store_true", help="the newest complete batch under SOURCE"
    )
    pull.add_argument("--model", help="with --latest: only this <model>")

    render = sub.add_parser(
        "render", help="a MIDI file as a piano-roll PNG and/or a WAV (fluidsynth, GM soundfont)"
    )
    render.add_argument("midi", help="MIDI file (local or gs://)")
    render.add_argument("--png", help="write a piano-roll image here")
    render.add_argument("--wav", help="write audio here")
    render.add_argument("--soundfont", help="a .sf2 (default: MUSICGEN_SOUNDFONT or Debian's GM)")


def run_generate(args: argparse.Namespace, resolve: Any) -> int:
    """`musicgen generate`."""
    from musicgen.generate.config import GenerateConfig

    names = [f.name for f in dataclasses.fields(GenerateConfig)]
    flags = {name: getattr(args, name, None) for name in names}
    cfg = resolve(GenerateConfig, args, flags)
    if args.dry_run:
        print(json.dumps(dataclasses.asdict(cfg), indent=2))
        return EXIT_OK
    from musicgen.generate.batch import generate_batch

    report = generate_batch(cfg)
    print(report.summary())
    return EXIT_OK


def run_pull(args: argparse.Namespace) -> int:
    """`musicgen pull`."""
    from musicgen.generate.pull import pull

    report = pull(args.source, args.dest, latest=args.latest, model=args.model)
    print(
        f"pulled {report.source} -> {args.dest}: {report.downloaded} downloaded, "
        f"{report.repaired} repaired, {report.skipped} already there, {report.page_files} "
        f"report.html files fetched ({report.bytes} bytes)"
    )
    return EXIT_OK


def run_render(args: argparse.Namespace) -> int:
    """`musicgen render`."""
    from musicgen import storage
    from musicgen.generate.render import render_png, render_wav

    if not args.png and not args.wav:
        raise ConfigError("render: give --png and/or --wav")
    data = storage.read_bytes(args.midi)
    if args.png:
        render_png(data, args.png, title=storage.basename(args.midi))
        print(f"wrote {args.png}")
    if args.wav:
        info = render_wav(data, args.wav, soundfont=args.soundfont)
        print(f"wrote {args.wav} ({info.duration_s:.1f} s)")
    return EXIT_OK
