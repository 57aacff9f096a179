"""`musicgen schedule-generation`: one RayJob per schedule slot, created, awaited, pruned.

The CronJob runs this once per tick. The work is split by concern: ``slots`` (durations, the
slot and its RayJob name), ``config`` (``LauncherConfig``), ``rayjob_body`` (template to body,
CRD validation), ``rayjob_api`` (the Kubernetes calls) and ``lifecycle`` (create or attach, wait,
prune, exit code). This module is the command line; it re-exports those names so that
``from musicgen.schedule.launcher import ...`` keeps working.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from musicgen.errors import EXIT_CONFIG, ConfigError, MusicgenError
from musicgen.schedule import k8s_schema
from musicgen.schedule.config import LauncherConfig
from musicgen.schedule.lifecycle import (
    FINISHED,
    TRANSIENT_HTTP,
    create_or_attach,
    outcome,
    prune,
    run,
    wait_for,
)
from musicgen.schedule.rayjob_api import ApiError, CustomObjects, RayJobs, make_api
from musicgen.schedule.rayjob_body import (
    ENTRYPOINT_TOKENS,
    GROUP,
    MANAGED_BY,
    PLURAL,
    SCHEDULE_LABEL,
    SLOT_ANNOTATION,
    VERSION,
    build_rayjob,
    containers,
    load_template,
    validate_body,
)
from musicgen.schedule.slots import (
    MAX_SCHEDULE_NAME,
    NAME_PREFIX,
    SLOT_FORMAT,
    iso,
    parse_duration,
    parse_slot,
    rayjob_name,
    slot_for,
)

__all__ = [
    "ENTRYPOINT_TOKENS",
    "FINISHED",
    "GROUP",
    "MANAGED_BY",
    "MAX_SCHEDULE_NAME",
    "NAMESPACE_FILE",
    "NAME_PREFIX",
    "PLURAL",
    "SCHEDULE_LABEL",
    "SLOT_ANNOTATION",
    "SLOT_FORMAT",
    "TRANSIENT_HTTP",
    "VERSION",
    "ApiError",
    "CustomObjects",
    "LauncherConfig",
    "RayJobs",
    "add_arguments",
    "build_parser",
    "build_rayjob",
    "config_from_args",
    "containers",
    "create_or_attach",
    "iso",
    "load_template",
    "main",
    "make_api",
    "outcome",
    "parse_duration",
    "parse_slot",
    "prune",
    "rayjob_name",
    "run",
    "run_from_args",
    "slot_for",
    "validate_body",
    "wait_for",
]

# Where the projected service-account volume puts the pod's namespace (the launcher container
# mounts its token volume at the standard path, so in-cluster config finds it there too).
NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The launcher's options (shared by `musicgen schedule-generation` and ``main``)."""
    parser.add_argument("--schedule", required=True, help="schedule name, e.g. nightly")
    parser.add_argument("--template", required=True, type=Path, help="RayJob manifest (YAML)")
    parser.add_argument(
        "--namespace", default=None, help="namespace (default: $POD_NAMESPACE, the pod's own)"
    )
    parser.add_argument("--period", default="1d", help="schedule period: 1d, 6h, 30m (1d)")
    parser.add_argument("--offset", default="0", help="slot grid offset from 00:00 UTC (0)")
    parser.add_argument("--slot", help="explicit slot, ISO 8601 (UTC if no offset)")
    parser.add_argument("--image", default=None, help="Ray image for the RayJob ($MUSICGEN_IMAGE)")
    parser.add_argument("--history-limit", type=int, default=5, help="finished RayJobs kept (5)")
    parser.add_argument("--timeout", default="6h", help="wait at most this long (6h)")
    parser.add_argument("--poll-interval", default="30s", help="between status reads (30s)")
    parser.add_argument("--request-timeout", default="30s", help="per API request (30s)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster or ~/.kube)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--crd-dir", help=f"KubeRay CRD folder (${k8s_schema.CRD_DIR_ENV})")
    parser.add_argument("--dry-run", action="store_true", help="print the RayJob and exit")


def config_from_args(args: argparse.Namespace) -> LauncherConfig:
    """The typed config of parsed arguments; raises ConfigError on bad values."""
    namespace = args.namespace or os.environ.get("POD_NAMESPACE")
    if not namespace and NAMESPACE_FILE.is_file():
        namespace = NAMESPACE_FILE.read_text(encoding="utf-8").strip()
    return LauncherConfig(
        schedule=args.schedule,
        template=args.template,
        namespace=namespace or "",
        period_s=parse_duration(args.period),
        offset_s=parse_duration(args.offset),
        slot=parse_slot(args.slot) if args.slot else None,
        image=args.image or os.environ.get("MUSICGEN_IMAGE") or None,
        history_limit=args.history_limit,
        timeout_s=parse_duration(args.timeout),
        poll_interval_s=parse_duration(args.poll_interval),
        request_timeout_s=parse_duration(args.request_timeout),
        kubeconfig=args.kubeconfig,
        context=args.context,
        crd_dir=args.crd_dir,
        dry_run=args.dry_run,
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Entry for `musicgen schedule-generation` (errors propagate to the CLI's handler)."""
    return run(config_from_args(args))


def build_parser() -> argparse.ArgumentParser:
    """The standalone parser (``python -m musicgen.schedule.launcher``)."""
    parser = argparse.ArgumentParser(
        prog="musicgen schedule-generation",
        description="Creates this slot's generation RayJob (idempotent), waits for it, prunes "
        "old ones. Exit 0: succeeded; 1: failed or timed out; 2: bad arguments or template.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the launcher and returns the exit code (0, 1 or 2)."""
    from musicgen import logs

    args = build_parser().parse_args(argv)
    logs.configure(args.verbose)
    try:
        return run_from_args(args)
    except ConfigError as exc:
        print(f"musicgen schedule-generation: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except MusicgenError as exc:
        print(f"musicgen schedule-generation: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
