"""The one place that knows every artifact's name: the outputs of convert and examples, run
directories (config, copies of the dataset's encoding, checkpoints, metrics, TensorBoard, model)
and generated batches (samples, manifest, report).

Local folder or gs:// prefix alike: names are joined with :func:`storage.join`, and anything
that deletes must first recognize the name as one of these.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from musicgen import storage
from musicgen.errors import ObjectNotFound

STATS = "stats.json"
FAILURES = "failures.jsonl"
SEQUENCE_SHARD_PREFIX = "notesequences"
_SHARD_RE = re.compile(rf"^{SEQUENCE_SHARD_PREFIX}-\d{{5}}-of-\d{{5}}\.tfrecord$")


def sequence_shard_name(index: int, count: int) -> str:
    """`notesequences-00003-of-00010.tfrecord`; depends only on the plan, so re-runs overwrite."""
    if not 0 <= index < count:
        raise ValueError(f"shard index {index} out of range for {count} shards")
    return f"{SEQUENCE_SHARD_PREFIX}-{index:05d}-of-{count:05d}.tfrecord"


def is_sequence_shard(name: str) -> bool:
    """True for a file name that `sequence_shard_name` could have produced."""
    return bool(_SHARD_RE.match(name))


# Training examples: <output>/<split>/<prefix>-NNNNN-of-MMMMM.tfrecord, plus these beside them.
ENCODING = "encoding.json"
CHORD_VOCABULARY = "chords.json"
COMPACT_SHARD_PREFIX = "examples"
# Magenta's own file names (training_performances.tfrecord, eval_performances.tfrecord), sharded.
MAGENTA_SHARD_PREFIX = {"train": "training_performances", "eval": "eval_performances"}
_EXAMPLE_SHARD_RE = re.compile(
    rf"^({COMPACT_SHARD_PREFIX}|[a-z]+_performances)-\d{{5}}-of-\d{{5}}"
    r"\.tfrecord$"
)


def example_shard_name(split: str, index: int, count: int, magenta: bool = False) -> str:
    """`train/examples-00003-of-00010.tfrecord` (relative to the output folder)."""
    if not 0 <= index < count:
        raise ValueError(f"shard index {index} out of range for {count} shards")
    prefix = MAGENTA_SHARD_PREFIX.get(split, f"{split}_performances") if magenta else None
    return f"{split}/{prefix or COMPACT_SHARD_PREFIX}-{index:05d}-of-{count:05d}.tfrecord"


def is_example_shard(name: str) -> bool:
    """True for a base name that `example_shard_name` could have produced."""
    return bool(_EXAMPLE_SHARD_RE.match(name))


# ---------------------------------------------------------------------------------------------
# Run directories: <runs_dir>/<family>/<run_id>/...

RUN_CONFIG = "config.resolved.yaml"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"
TENSORBOARD = "tensorboard"
MODEL = "model.keras"
BEST_MODEL = "best.keras"  # early stopping: the best evaluated model
BEST_META = "best.json"  # its step and score; written after it
REPORT = "report.json"  # a run's summary, and a generated batch's commit mark
WORKERS = "workers"
RAY = "ray"  # Ray Train's own bookkeeping (its copies of our checkpoints, run snapshots)
MAGENTA_PROVENANCE = "magenta.json"  # an imported Magenta model's source, sha256 and mapping
CHECKPOINT_SUFFIXES = (".keras", ".json")  # the model with its optimizer; then the mark
_CHECKPOINT_RE = re.compile(r"^ckpt-(\d{8})\.(keras|json)$")


def checkpoint_stem(step: int) -> str:
    """``ckpt-00000200`` (sorts by step as text)."""
    if not 0 <= step < 10**8:
        raise ValueError(f"checkpoint step {step} out of range")
    return f"ckpt-{step:08d}"


def checkpoint_step(name: str) -> tuple[int, str] | None:
    """``(step, suffix)`` of a checkpoint file name, or None for any other name."""
    match = _CHECKPOINT_RE.match(name)
    return (int(match.group(1)), f".{match.group(2)}") if match else None


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory (``uri`` is a local folder or gs:// prefix)."""

    uri: str

    @classmethod
    def of(cls, runs_dir: str, family: str, run_id: str) -> RunDir:
        """``<runs_dir>/<family>/<run_id>``."""
        return cls(storage.join(runs_dir, family, run_id))

    def path(self, *parts: str) -> str:
        """A file inside the run."""
        return storage.join(self.uri, *parts)

    @property
    def config(self) -> str:
        return self.path(RUN_CONFIG)

    @property
    def encoding(self) -> str:
        """The run's copy of its dataset's ``encoding.json``: generation needs no dataset."""
        return self.path(ENCODING)

    @property
    def chords(self) -> str:
        """The run's copy of a piano-roll dataset's ``chords.json``."""
        return self.path(CHORD_VOCABULARY)

    @property
    def checkpoints(self) -> str:
        return self.path(CHECKPOINTS)

    def checkpoint(self, step: int, suffix: str) -> str:
        """``checkpoints/ckpt-<step>.keras`` or ``.json``."""
        if suffix not in CHECKPOINT_SUFFIXES:
            raise ValueError(f"checkpoint suffix must be one of {CHECKPOINT_SUFFIXES}")
        return self.path(CHECKPOINTS, checkpoint_stem(step) + suffix)

    @property
    def metrics(self) -> str:
        return self.path(METRICS)

    @property
    def tensorboard(self) -> str:
        return self.path(TENSORBOARD)

    @property
    def model(self) -> str:
        return self.path(MODEL)

    @property
    def best_model(self) -> str:
        return self.path(BEST_MODEL)

    @property
    def best_meta(self) -> str:
        return self.path(BEST_META)

    @property
    def report(self) -> str:
        return self.path(REPORT)

    @property
    def ray_storage(self) -> str:
        return self.path(RAY)

    @property
    def magenta(self) -> str:
        """``magenta.json``: where an imported Magenta bundle or checkpoint came from."""
        return self.path(MAGENTA_PROVENANCE)

    def worker(self, rank: int) -> str:
        """``workers/rank-<r>.json``: pid at start, step and weights checksum at the end."""
        return self.path(WORKERS, f"rank-{rank}.json")


# ---------------------------------------------------------------------------------------------
# Generated batches: <root>/generated/<model>/<YYYY-MM-DD>/<batch_id>/ holds one
# <sample_id>.mid per sample, manifest.jsonl and, written last as the commit mark, report.json.
# Sample names depend only on (batch_id, index), so a retried batch overwrites its own objects.

GENERATED = "generated"
MANIFEST = "manifest.jsonl"
MIDI_SUFFIX = ".mid"
INDEX_DIGITS = 5
# Beside them, for people: report.html (static, relative links only, so it reads the same from
# a bucket or a pulled folder), the renders of the first pieces and the feature plots it shows.
REPORT_HTML = "report.html"
RENDERS = "renders"
PLOTS = "plots"

# One path component: no slashes, no leading dot (hidden/temp files), nothing a URL mangles.
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=+-]*$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SAMPLE_RE = re.compile(r"^(?P<batch>.+)-(?P<index>\d{5,})$")


def _check_name(kind: str, value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(
            f"bad {kind} {value!r}: use letters, digits and _.=+- (not starting with . or -)"
        )
    return value


def format_date(date: dt.date | str) -> str:
    """``YYYY-MM-DD`` for a date or an already formatted string (validated, so a typo fails here).

    Args:
        date: A ``datetime.date`` (a datetime uses its date) or ``"YYYY-MM-DD"``.

    Returns:
        The ISO date string.

    Raises:
        ValueError: If the string is not a real ``YYYY-MM-DD`` date.
    """
    if isinstance(date, dt.datetime):
        date = date.date()
    if isinstance(date, dt.date):
        return date.isoformat()
    try:
        if not _DATE_RE.match(date):
            raise ValueError("expected YYYY-MM-DD")
        dt.date.fromisoformat(date)  # rejects 2024-02-30
    except ValueError as exc:
        raise ValueError(f"bad date {date!r}: {exc}") from None
    return date


def batch_prefix(root: storage.UriLike, model: str, date: dt.date | str, batch_id: str) -> str:
    """``<root>/generated/<model>/<YYYY-MM-DD>/<batch_id>``, local or gs://.

    Args:
        root: The bucket or folder that holds ``generated/``.
        model: Model name (one path component).
        date: The batch's date.
        batch_id: The batch id (one path component).

    Returns:
        The batch prefix, without a trailing slash.

    Raises:
        ValueError: If a component is empty, contains a slash or starts with a dot.
    """
    return storage.join(
        root,
        GENERATED,
        _check_name("model", model),
        format_date(date),
        _check_name("batch id", batch_id),
    )


def sample_id(batch_id: str, index: int) -> str:
    """``<batch_id>-00042``: deterministic, sorts by index up to 99999 samples.

    Args:
        batch_id: The batch id.
        index: The sample's index in the batch (0-based).

    Returns:
        The sample id.

    Raises:
        ValueError: On a bad batch id or a negative index.
    """
    _check_name("batch id", batch_id)
    if index < 0:
        raise ValueError(f"sample index must be >= 0, got {index}")
    return f"{batch_id}-{index:0{INDEX_DIGITS}d}"


def parse_sample_id(value: str) -> tuple[str, int]:
    """Inverse of :func:`sample_id`.

    Args:
        value: A sample id such as ``b7-00042``.

    Returns:
        ``(batch_id, index)``.

    Raises:
        ValueError: If ``value`` is not something :func:`sample_id` produces.
    """
    match = _SAMPLE_RE.match(value)
    if not match or sample_id(match["batch"], int(match["index"])) != value:
        raise ValueError(f"bad sample id {value!r}: expected <batch_id>-<5+ digit index>")
    return match["batch"], int(match["index"])


def sample_name(sample: str) -> str:
    """``<sample_id>.mid``, the sample's object name relative to its batch prefix.

    Args:
        sample: The sample id.

    Returns:
        The file name.
    """
    return f"{_check_name('sample id', sample)}{MIDI_SUFFIX}"


def render_name(sample: str, suffix: str) -> str:
    """``renders/<sample_id><suffix>`` (``.png``, ``.wav``, ``.ogg``), relative to the batch."""
    return f"{RENDERS}/{_check_name('sample id', sample)}{suffix}"


def plot_name(feature: str) -> str:
    """``plots/<feature>.png``, a corpus-comparison plot, relative to the batch."""
    return f"{PLOTS}/{_check_name('feature', feature)}.png"


def latest_batch(root: storage.UriLike, model: str | None = None) -> str:
    """The newest complete batch (one with ``report.json``) under ``<root>/generated/``.

    Newest means the latest date, then the greatest batch id (use sortable ids, e.g. a
    timestamp); ties across models break by model name. Incomplete batches are ignored.

    Args:
        root: The bucket or folder that holds ``generated/``.
        model: Only consider this model's batches.

    Returns:
        The batch prefix.

    Raises:
        ObjectNotFound: If there is no complete batch; names the folder searched.
    """
    base = storage.join(root, GENERATED, _check_name("model", model) if model else "")
    found: list[tuple[str, str, str, str]] = []
    if storage.exists(base):
        for info in storage.list_files(base):
            parts = storage.relative_to(info.uri, base).split("/")
            if model:
                parts = [model, *parts]
            if len(parts) != 4 or parts[3] != REPORT or not _DATE_RE.match(parts[1]):
                continue
            found.append((parts[1], parts[2], parts[0], info.uri))
    if not found:
        raise ObjectNotFound(base, f"no complete batch ({REPORT} present) found")
    date, batch, name, _ = max(found)
    return batch_prefix(root, name, date, batch)
