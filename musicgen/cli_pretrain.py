"""`musicgen pretrain-endecell`: the EnDeCell's encoder/decoder pretrained as a frame autoencoder.

It takes the same ``--config``/``--set``/``--dataset`` as ``musicgen train`` (so the preset that
will train the full model also fixes the autoencoder's geometry), trains the encoder and decoder
to reconstruct the training split's frames for ``--steps`` steps in this process, and writes
their weights to ``--output`` (local or gs://). Training then starts from them with
``--set model.pretrained_autoencoder=OUTPUT``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from musicgen.errors import EXIT_OK, ConfigError

log = logging.getLogger(__name__)


def add_parsers(sub: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Adds `pretrain-endecell` to the subcommand parser."""
    pretrain = sub.add_parser(
        "pretrain-endecell",
        help="pretrain an endecell model's encoder/decoder as a frame autoencoder",
        description="Trains the encoder and decoder of the endecell model that --config/--set "
        "describe to reconstruct each frame of DATASET's training split, and writes their "
        "weights to OUTPUT (local or gs://), for `musicgen train --set "
        "model.pretrained_autoencoder=OUTPUT`. Exit 0: done; 2: bad config, not an endecell "
        "model, or no dataset.",
    )
    pretrain.add_argument("--dataset", help="the folder `musicgen examples` wrote (or gs://)")
    pretrain.add_argument("--output", required=True, help="the weights file to write (.npz)")
    pretrain.add_argument("--steps", type=int, default=500, help="autoencoder steps (500)")
    pretrain.add_argument("--batch-size", type=int, help="default: the config's batch_size")
    add_common(pretrain)


def run_pretrain_endecell(args: argparse.Namespace) -> int:
    """`musicgen pretrain-endecell`."""
    from musicgen.cli import resolve_config
    from musicgen.models.configs.endecell import EndecellConfig
    from musicgen.train.config import TrainConfig

    base = {"data": {"dataset": args.dataset}} if args.dataset else None
    cfg = resolve_config(TrainConfig, args, {}, base)
    if not isinstance(cfg.model, EndecellConfig):
        raise ConfigError(
            f"pretrain-endecell: model.family is {cfg.model.family}; it pretrains endecell models"
        )
    if args.steps < 1:
        raise ConfigError(f"pretrain-endecell: --steps must be >= 1, got {args.steps}")
    model = dataclasses.replace(cfg.model, pretrained_autoencoder=None)
    if args.dry_run:
        print(f"would pretrain {model.applicable()} for {args.steps} steps into {args.output}")
        return EXIT_OK
    from musicgen.examples.encoding_info import read_encoding_info
    from musicgen.examples.readers import list_shards
    from musicgen.models.endecell_pretrain import run_pretraining
    from musicgen.train.driver import check_inputs

    check_inputs(cfg)
    info = read_encoding_info(cfg.data.dataset)
    files = list_shards(cfg.data.dataset, cfg.data.train_split)
    losses = run_pretraining(
        model, info, files, cfg.data, args.output, steps=args.steps,
        batch_size=args.batch_size or cfg.batch_size,
        learning_rate=cfg.optimizer.learning_rate, seed=cfg.seed,
    )  # fmt: skip
    print(
        f"pretrained {args.steps} steps: reconstruction loss {losses[0]:.3f} -> {losses[-1]:.3f}; "
        f"wrote {args.output}; train with --set model.pretrained_autoencoder={args.output}"
    )
    return EXIT_OK
