"""Typed, frozen job configs with a strict `from_dict`; YAML and `--set` only override defaults."""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from dataclasses import dataclass
from typing import Any, TypeVar

from musicgen.errors import ConfigError

T = TypeVar("T")

PARSERS = ("fast", "note_seq")


@dataclass(frozen=True)
class ConvertConfig:
    """MIDI/MusicXML/ABC corpus -> sharded TFRecords of NoteSequences.

    Attributes:
        input: folder or gs:// prefix holding the corpus (searched recursively).
        output: folder or gs:// prefix for shards, stats.json and failures.jsonl.
        collection: collection name used in ids; default: the input's base name, as Magenta does.
        files_per_shard: files per output shard (one Ray task); None picks from the corpus size
            alone (at least 16 shards when there are enough files, 8 to 256 files each), so a
            re-run of the same corpus plans the same shards on any cluster.
        max_failure_ratio: failed / inputs above this makes the job exit 1 (outputs are kept).
        max_file_bytes: larger files are skipped (recorded) instead of read into memory.
        parser: "fast" (our parser, verified identical to note_seq) or "note_seq" (the reference).
        lenient: also convert MIDI files Magenta rejects but players read (an unknown chunk,
            running status resumed after a SysEx), repaired first; counted as ``recovered``.
            Off by default: the default converts exactly what Magenta converts.
        address: Ray cluster address; None starts an embedded local Ray.
        num_cpus: CPUs for the embedded local Ray; None means all.
        max_in_flight: shards submitted at once per CPU; bounds the driver's memory.
    """

    input: str
    output: str
    collection: str | None = None
    files_per_shard: int | None = None
    max_failure_ratio: float = 0.05
    max_file_bytes: int = 64 * 1024 * 1024
    parser: str = "fast"
    lenient: bool = False
    address: str | None = None
    num_cpus: int | None = None
    max_in_flight: int = 2

    def __post_init__(self) -> None:
        if not self.input:
            raise ConfigError("convert: input is empty")
        if not self.output:
            raise ConfigError("convert: output is empty")
        if self.files_per_shard is not None and self.files_per_shard < 1:
            raise ConfigError(f"convert: files_per_shard must be >= 1, got {self.files_per_shard}")
        if not 0.0 <= self.max_failure_ratio <= 1.0:
            raise ConfigError(
                f"convert: max_failure_ratio must be in [0, 1], got {self.max_failure_ratio}"
            )
        if self.max_file_bytes < 1:
            raise ConfigError(f"convert: max_file_bytes must be >= 1, got {self.max_file_bytes}")
        if self.parser not in PARSERS:
            raise ConfigError(f"convert: parser must be one of {PARSERS}, got {self.parser!r}")
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ConfigError(f"convert: num_cpus must be >= 1, got {self.num_cpus}")
        if self.max_in_flight < 1:
            raise ConfigError(f"convert: max_in_flight must be >= 1, got {self.max_in_flight}")


EXAMPLE_FORMATS = ("compact", "magenta")


@dataclass(frozen=True)
class ExamplesConfig:
    """NoteSequence shards (or a B-L benchmark pickle) -> SequenceExample shards per split.

    Attributes:
        input: a folder or gs:// prefix of NoteSequence TFRecords (ours or Magenta's; ``.gz``
            read as gzip), one such file, or a B-L ``.pickle`` (its train/valid/test kept).
        output: folder or gs:// prefix for ``train/``, ``eval/``, encoding.json, stats.json and
            failures.jsonl.
        encoding: a PerformanceRNN config name (``performance_with_dynamics``, ...) or
            ``pianoroll`` (88-key frames + onsets, for the piano-roll families).
        format: ``compact`` (token ids, the default) or ``magenta`` (Magenta's own one-hot
            records, PerformanceRNN configs only).
        eval_ratio: fraction of sequences, by a hash of their id, written to ``eval/``.
        augment: augment the training split; None follows the input's convention:
            NoteSequences get Magenta's stretch and transposition, a B-L ``.pickle`` none (the
            papers' protocol, so benchmark scores compare). True on a pickle adds each training
            piece transposed by -3..+3 semitones; False augments nothing.
        steps_per_quarter: piano-roll frames per quarter note.
        max_failure_ratio: failed / inputs above this makes the job exit 1 (outputs are kept).
        address: Ray cluster address; None starts an embedded local Ray.
        num_cpus: CPUs for the embedded local Ray; None means all.
        max_in_flight: shards submitted at once per CPU; bounds the driver's memory.
    """

    input: str
    output: str
    encoding: str = "performance_with_dynamics"
    format: str = "compact"
    eval_ratio: float = 0.1
    augment: bool | None = None
    steps_per_quarter: int = 4
    max_failure_ratio: float = 0.05
    address: str | None = None
    num_cpus: int | None = None
    max_in_flight: int = 2

    def __post_init__(self) -> None:
        if not self.input:
            raise ConfigError("examples: input is empty")
        if not self.output:
            raise ConfigError("examples: output is empty")
        if self.format not in EXAMPLE_FORMATS:
            raise ConfigError(
                f"examples: format must be one of {EXAMPLE_FORMATS}, got {self.format!r}"
            )
        if not 0.0 <= self.eval_ratio <= 1.0:
            raise ConfigError(f"examples: eval_ratio must be in [0, 1], got {self.eval_ratio}")
        if self.steps_per_quarter < 1:
            raise ConfigError(
                f"examples: steps_per_quarter must be >= 1, got {self.steps_per_quarter}"
            )
        if not 0.0 <= self.max_failure_ratio <= 1.0:
            raise ConfigError(
                f"examples: max_failure_ratio must be in [0, 1], got {self.max_failure_ratio}"
            )
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ConfigError(f"examples: num_cpus must be >= 1, got {self.num_cpus}")
        if self.max_in_flight < 1:
            raise ConfigError(f"examples: max_in_flight must be >= 1, got {self.max_in_flight}")

    @property
    def augment_notesequences(self) -> bool:
        """Whether NoteSequence input gets Magenta's augmentation (its default: unless False)."""
        return self.augment is not False


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``; nested mappings merge key by key."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def dotted(key: str, value: Any) -> dict[str, Any]:
    """``dotted("model.layers", v)`` is ``{"model": {"layers": v}}`` (for ``--set``)."""
    out: dict[str, Any] = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def from_dict(cls: type[T], data: dict[str, Any], *, source: str = "config") -> T:
    """Builds dataclass `cls` from `data`, rejecting unknown keys and wrong types.

    Args:
        cls: a dataclass type.
        data: plain values, e.g. parsed YAML.
        source: where `data` came from (a file name), quoted in errors.

    Raises:
        ConfigError: naming `source` and the offending key.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {unknown} for {cls.__name__}; "
            f"valid keys: {', '.join(fields)}"
        )
    missing = [
        name
        for name, f in fields.items()
        if f.init
        and name not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:  # named as settings, never as Python's "missing positional arguments"
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in missing)
        raise ConfigError(
            f"{source}: missing required setting(s) {', '.join(missing)} "
            f"(give {flags}, or set them in a --config YAML)"
        )
    hints = typing.get_type_hints(cls)
    values = {
        name: _coerce(value, hints[name], f"{source}: {name}") for name, value in data.items()
    }
    return cls(**values)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Checks `value` against a type hint: scalars, optionals, tuple[T, ...] (from a YAML list)
    and nested dataclasses (from a mapping); ints widen to floats."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {hint.__name__}, got {value!r}")
        # A config base whose subclass depends on the mapping (the model's ``family``) picks it.
        resolve = getattr(hint, "resolve_class", None)
        return from_dict(resolve(value, where) if resolve else hint, value, source=where)
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        item = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        if item is None:
            raise TypeError(f"{where}: only tuple[T, ...] hints are supported")
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {hint}, got {value!r}")
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, dt.date):
        return value.isoformat()  # YAML reads 2026-12-01 as a date; the config wants the text
    if hint in (int, float, str, bool):
        if isinstance(value, bool) and hint is not bool:
            raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
        if not isinstance(value, hint):
            raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
        return value
    return value
