"""Logging set-up and a throttled progress reporter for long steps (files, rate, ETA)."""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

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
# Ray Train's per-report INFO line ("Reporting training result N: TrainingReport(...)") comes
# from a logger named after its source file, not its module, so it is quieted by that name.
RAY_TRAIN_CONTEXT_FILE = ("train", "v2", "_internal", "execution", "context.py")
# Ray Data configures its own loggers when imported, past any level set before; this file is
# its documented override (RAY_DATA_LOGGING_CONFIG): errors only, on the console.
RAY_DATA_LOGGING_CONFIG = Path(__file__).with_name("ray_data_logging.yaml")
# What TensorFlow's C++ side writes while it is imported, before absl logging is set up, so
# TF_CPP_MIN_LOG_LEVEL cannot silence it: absl's preamble always, and the CUDA stub's notice
# that there is no driver (dropped only where that is true; on a GPU node it is news).
ABSL_PREAMBLE = b"All log messages before absl::InitializeLog() is called"
NO_CUDA_DRIVER = b"cudart_stub.cc"
VERBOSE_ENV = "MUSICGEN_VERBOSE"


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
    gpu_driver = Path(NVIDIA_DRIVER).exists()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if gpu_driver else "3")
    os.environ.setdefault("RAY_DATA_LOGGING_CONFIG", str(RAY_DATA_LOGGING_CONFIG))
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    ray_root = _package_dir("ray")
    if ray_root is not None:
        logging.getLogger(str(ray_root.joinpath(*RAY_TRAIN_CONTEXT_FILE))).setLevel(logging.WARNING)
    noise = (ABSL_PREAMBLE,) if gpu_driver else (ABSL_PREAMBLE, NO_CUDA_DRIVER)
    filter_import_stderr("tensorflow", noise)
    # note-seq imports pydub, which warns about a missing ffmpeg that musicgen never uses.
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg", category=RuntimeWarning)


def ray_worker_setup() -> None:
    """Ray's ``worker_process_setup_hook`` for an embedded Ray, run in each of its workers.

    Ray Train's placement-group cleaner finds "the" cluster by scanning the machine's processes
    when RAY_ADDRESS is unset, and fails when a second Ray runs beside ours (a `ray start`
    cluster, another user's job); naming our cluster fixes that. Then the driver's quiet,
    unless it runs with --verbose.
    """
    import ray

    os.environ.setdefault("RAY_ADDRESS", ray.get_runtime_context().gcs_address)
    if os.environ.get(VERBOSE_ENV) != "1":
        quiet_libraries()


def filter_import_stderr(module: str, noise: Sequence[bytes]) -> None:
    """Drops the lines containing any of ``noise`` that ``module``'s first import writes to the
    process's stderr (file descriptor 2, where C++ libraries write); other lines pass through.

    Does nothing if the module is imported already. The filter is a meta-path finder that
    removes itself once it has wrapped the module's loader.
    """
    if module in sys.modules or any(
        isinstance(f, _StderrFilteringFinder) and f.module == module for f in sys.meta_path
    ):
        return
    sys.meta_path.insert(0, _StderrFilteringFinder(module, tuple(noise)))


class _StderrFilteringFinder(importlib.abc.MetaPathFinder):
    def __init__(self, module: str, noise: tuple[bytes, ...]) -> None:
        self.module = module
        self.noise = noise

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.module:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        noise = self.noise

        class FilteringLoader(importlib.abc.Loader):
            def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
                return loader.create_module(spec)

            def exec_module(self, module: ModuleType) -> None:
                with stderr_filtered(noise):
                    loader.exec_module(module)

        spec.loader = FilteringLoader()
        return spec


@contextlib.contextmanager
def stderr_filtered(noise: Sequence[bytes]) -> Iterator[None]:
    """Captures file descriptor 2 while the block runs, then writes back the lines that contain
    none of ``noise``, in order."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured if not any(n in line for n in noise)]
            if kept:
                os.write(2, b"".join(kept))


def _package_dir(name: str) -> Path | None:
    """A top-level package's folder, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


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
