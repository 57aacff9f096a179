"""The Magenta interop subcommands of `musicgen`: import-magenta, export-magenta (see musicgen.cli).

Neither takes ``--config YAML``: there is no job config to override, and ``--config`` here is
Magenta's own flag (the config name of a checkpoint folder), as in ``performance_rnn_generate``.
"""

from __future__ import annotations

import argparse
from typing import Any

from musicgen.errors import EXIT_OK


def add_parsers(sub: Any) -> None:
    """Adds `import-magenta` and `export-magenta` to the subcommand parser."""
    imp = sub.add_parser(
        "import-magenta",
        help="a Magenta PerformanceRNN bundle (.mag) or TF1 checkpoint folder -> a run directory",
        description="Reads SOURCE, a GeneratorBundle (.mag) or a Magenta training folder "
        "(model.ckpt-*; needs --config), local or gs://, infers the layer sizes and config from "
        "it, and writes RUN_DIR: config.resolved.yaml, model.keras, encoding.json and "
        "magenta.json (source, sha256, generator id, variable mapping). `musicgen generate "
        "--run RUN_DIR` and `musicgen train --init-from RUN_DIR` then take it. Exit 0: done; "
        "2: unknown config, truncated or foreign file, missing variable.",
    )
    imp.add_argument("source", help="a .mag bundle, or a TF1 checkpoint folder with --config")
    imp.add_argument("run_dir", help="the run directory to write (local or gs://)")
    imp.add_argument(
        "--config",
        dest="magenta_config",
        metavar="NAME",
        help="Magenta's config name (performance_with_dynamics, ...): required for a "
        "checkpoint folder; for a bundle it overrides the generator id",
    )

    exp = sub.add_parser(
        "export-magenta",
        help="a performance_rnn run directory -> a GeneratorBundle Magenta's generator loads",
        description="Writes OUT (.mag, local or gs://): Magenta's TF1 generate graph (the "
        "tensors and collections Magenta's EventSequenceRnnModel looks up) with the run's "
        "weights as a V1 checkpoint, as Magenta's create_bundle_file does. Exit 0: done; 2: "
        "not a performance_rnn run, or a model Magenta cannot express.",
    )
    exp.add_argument("run_dir", help="a run directory (trained, or imported)")
    exp.add_argument("out", help="the .mag file to write (local or gs://)")
    exp.add_argument("--description", help="bundle_details.description (default: provenance)")
    exp.add_argument(
        "--batch-size", type=int, default=1, help="the graph's batch size (Magenta's CLI: 1)"
    )


def run_import(args: argparse.Namespace) -> int:
    """`musicgen import-magenta`."""
    from musicgen.interop.magenta_import import import_magenta

    report = import_magenta(args.source, args.run_dir, args.magenta_config)
    print(report.summary())
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    """`musicgen export-magenta`."""
    from musicgen.interop.magenta_export import export_magenta

    report = export_magenta(
        args.run_dir, args.out, description=args.description, batch_size=args.batch_size
    )
    print(report.summary())
    return EXIT_OK
