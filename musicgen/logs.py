"""Logging set-up and a throttled progress reporter for long steps (files, rate, ETA)."""

from __future__ import annotations

import logging
import sys
import time

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(verbose: bool = False) -> None:
    """Sends musicgen's logs to stderr; called by the CLI, never at import time."""
    root = logging.getLogger("musicgen")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%H:%M:%S"))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


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
