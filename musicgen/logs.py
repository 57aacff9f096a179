"""Logging set-up and a throttled progress reporter for long steps (files, rate, ETA)."""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NVIDIA_DRIVER = "/proc/driver/nvidia/version"
# Library loggers whose routine messages are not the user's business (kept with --verbose):
# the token-auth notice of an embedded Ray, Ray Data's text progress when there is no TTY, and
# Ray Train's placement-group cleaner, which polls the State API that an embedded Ray without
# a dashboard does not serve and warns at every poll.
QUIET_LOGGERS = (
    "ray._private.authentication.authentication_token_setup",
    "ray.data",
    "ray.train",
    "ray.train.v2._internal.execution.controller.placement_group_cleaner",
)


def configure(verbose: bool = False) -> None:
    """Sends musicgen's logs to stderr and quiets the libraries; called by the CLI, never at
    import time."""
    root = logging.getLogger("musicgen")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%H:%M:%S"))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False  # our handler prints it; a library's root handler would repeat it
    if not verbose:
        quiet_libraries()


def quiet_libraries() -> None:
    """Silences TensorFlow's and Ray's routine messages in this process and the ones it starts.

    TensorFlow's C++ log level is read from the environment at import, and Ray workers inherit
    the environment, so this runs before either is imported. Without an NVIDIA driver even
    TensorFlow's errors are about a GPU that is not there (``cuInit`` failed), so they go too;
    on a GPU machine its errors stay. A level the user has set is kept.
    """
    level = "2" if Path(NVIDIA_DRIVER).exists() else "3"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # note-seq imports pydub, which warns about a missing ffmpeg that musicgen never uses.
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg", category=RuntimeWarning)


def quiet_ray_worker() -> None:
    """Ray's ``worker_process_setup_hook`` for an embedded Ray: the same quiet in every worker."""
    quiet_libraries()


class Progress:
    """Logs `done/total` with rate and ETA at most every `interval_s` seconds, and at the end."""

    def __init__(
        self, what: str, total: int, logger: logging.Logger, interval_s: float = 5.0
    ) -> None:
        self.what = what
        self.total = total
        self.done = 0
        self.logger = logger
        self.interval_s = interval_s
        self.started = time.monotonic()
        self._last = self.started

    def advance(self, n: int, extra: str = "") -> None:
        """Counts `n` more items and logs if the interval has passed or the work is complete."""
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.interval_s or self.done >= self.total:
            self._last = now
            self.logger.info("%s", self.line(extra))

    def line(self, extra: str = "") -> str:
        """The progress line: counts, percentage, rate, ETA and any extra text."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        pct = 100.0 * self.done / self.total if self.total else 100.0
        remaining = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = f"{remaining:.0f}s" if remaining != float("inf") else "?"
        tail = f", {extra}" if extra else ""
        return f"{self.what}: {self.done}/{self.total} ({pct:.0f}%), {rate:.1f}/s, ETA {eta}{tail}"
