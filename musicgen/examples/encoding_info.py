"""What a reader needs to know about a folder of example shards, saved as ``encoding.json``.

The file sits beside the split folders (``<dir>/encoding.json``, ``<dir>/train/*.tfrecord``).
``config_hash`` identifies the encoding itself: the sha256 of the canonical JSON of every other
field except ``musicgen_version`` (a newer musicgen writing the same encoding gets the same
hash), first 16 hex digits. It is recomputed on load, so a hand-edited file is caught.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from musicgen import __version__
from musicgen.encodings.augment import TRAINING_STRETCH_FACTORS, TRAINING_TRANSPOSITIONS
from musicgen.encodings.performance_configs import (
    NUM_PITCHES,
    STEPS_PER_SECOND,
    PerformanceConfig,
    get_config,
)
from musicgen.errors import InputError

FORMAT_VERSION = 1
PIANOROLL = "pianoroll"
PIANOROLL_MIN_PITCH = 21
PIANOROLL_NUM_PITCHES = 88
PERFORMANCE_SPLITS = ("train", "eval")
PIANOROLL_SPLITS = ("train", "valid", "test")

Family = Literal["performance", "pianoroll"]
Format = Literal["compact", "magenta"]
_FAMILIES = ("performance", "pianoroll")
_FORMATS = ("compact", "magenta")
_AUGMENTATIONS = ("materialized",)
_UNHASHED = ("config_hash", "musicgen_version")


@dataclass(frozen=True)
class EncodingInfo:
    """How the examples of one dataset folder are encoded.

    Attributes:
        name: A PerformanceRNN config name (e.g. ``performance_with_dynamics``) or
            ``pianoroll``.
        family: ``performance`` (event sequences) or ``pianoroll`` (frames and onsets).
        format: ``compact`` (event ids / sounding columns) or ``magenta`` (Magenta's
            one-hot ``inputs``/``labels`` SequenceExamples); piano rolls are always compact.
        input_size: Width of a model input row (Magenta's ``inputs``; 88 for piano rolls).
        num_classes: Label classes: one int, or the 6 sub-label sizes of the note encoding.
        steps_per_second: Time grid of performances (100); None for piano rolls.
        steps_per_quarter: Time grid of piano rolls; None for performances.
        min_pitch: MIDI pitch of class/column 0.
        num_pitches: Number of pitches (128 for performances, 88 for piano rolls).
        stretch_factors: Time stretches of the training augmentation.
        transpositions: Semitone shifts of the training augmentation.
        eval_ratio: Share of inputs sent to the eval split, None where the splits are given.
        splits: The split folders, e.g. ``("train", "eval")``.
        augmentation: ``materialized``: every augmented copy is its own record.
        musicgen_version: The musicgen that wrote the data.
        config_hash: Derived, see the module docstring.
    """

    name: str
    family: Family
    format: Format
    input_size: int
    num_classes: int | tuple[int, ...]
    steps_per_second: int | None
    steps_per_quarter: int | None
    min_pitch: int
    num_pitches: int
    stretch_factors: tuple[float, ...]
    transpositions: tuple[int, ...]
    eval_ratio: float | None
    splits: tuple[str, ...]
    augmentation: str = "materialized"
    musicgen_version: str = __version__
    config_hash: str = field(init=False)

    def __post_init__(self) -> None:
        if self.family not in _FAMILIES:
            raise ValueError(f"family must be one of {_FAMILIES}, got {self.family!r}")
        if self.format not in _FORMATS:
            raise ValueError(f"format must be one of {_FORMATS}, got {self.format!r}")
        if self.augmentation not in _AUGMENTATIONS:
            raise ValueError(f"augmentation must be one of {_AUGMENTATIONS}")
        if self.family == "pianoroll":
            if self.format != "compact" or self.steps_per_quarter is None:
                raise ValueError("piano rolls are compact and need steps_per_quarter")
        elif self.steps_per_second is None:
            raise ValueError("performances need steps_per_second")
        if not self.splits or len(set(self.splits)) != len(self.splits):
            raise ValueError(f"splits must be distinct and non-empty, got {self.splits}")
        if self.eval_ratio is not None and not 0.0 <= self.eval_ratio <= 1.0:
            raise ValueError(f"eval_ratio must be in [0, 1], got {self.eval_ratio}")
        # Normalised so that 1 and 1.0, or a list and a tuple, give the same info and hash.
        nc = self.num_classes
        normal: dict[str, Any] = {
            "num_classes": int(nc) if isinstance(nc, int) else tuple(int(n) for n in nc),
            "stretch_factors": tuple(float(s) for s in self.stretch_factors),
            "transpositions": tuple(int(t) for t in self.transpositions),
            "splits": tuple(str(s) for s in self.splits),
            "eval_ratio": None if self.eval_ratio is None else float(self.eval_ratio),
        }
        for key, value in normal.items():
            object.__setattr__(self, key, value)
        hashed = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _UNHASHED}
        object.__setattr__(self, "config_hash", _hash(_lists(hashed)))

    @property
    def performance_config(self) -> PerformanceConfig:
        """The PerformanceRNN config named by ``name`` (performance family only)."""
        if self.family != "performance":
            raise ValueError(f"{self.name!r} is a {self.family} encoding, not a performance")
        return get_config(self.name)

    def to_json(self) -> str:
        """The ``encoding.json`` text: sorted keys, indented, with the format version."""
        data = {"format_version": FORMAT_VERSION, **_jsonable(self)}
        return json.dumps(data, sort_keys=True, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, uri: str = "<encoding.json>") -> EncodingInfo:
        """Loads what :meth:`to_json` wrote.

        Args:
            text: The JSON text.
            uri: The file it came from, named in errors.

        Returns:
            The info.

        Raises:
            InputError: Not JSON (``malformed``), another format version
                (``unsupported-version``), unknown or missing fields or bad values
                (``malformed``), or a ``config_hash`` that does not match the fields
                (``hash-mismatch``).
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(uri, "malformed", f"not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise InputError(uri, "malformed", "expected a JSON object")
        version = data.pop("format_version", None)
        if version != FORMAT_VERSION:
            raise InputError(
                uri,
                "unsupported-version",
                f"encoding.json format_version {version!r}; this musicgen reads {FORMAT_VERSION}",
            )
        stored_hash = data.pop("config_hash", None)
        names = {f.name for f in fields(cls) if f.init}
        unknown, missing = sorted(set(data) - names), sorted(names - set(data))
        if unknown or missing:
            raise InputError(uri, "malformed", f"unknown fields {unknown}, missing {missing}")
        try:
            info = cls(**data)
        except (TypeError, ValueError) as exc:
            raise InputError(uri, "malformed", str(exc)) from exc
        if stored_hash != info.config_hash:
            raise InputError(
                uri,
                "hash-mismatch",
                f"config_hash {stored_hash!r} does not match the fields ({info.config_hash})",
            )
        return info

    @classmethod
    def for_performance(
        cls,
        config: PerformanceConfig | str,
        format: Format = "compact",
        eval_ratio: float = 0.1,
        *,
        splits: tuple[str, ...] = PERFORMANCE_SPLITS,
    ) -> EncodingInfo:
        """The info of a PerformanceRNN dataset (Magenta's augmentation, materialized).

        Args:
            config: The config or its name.
            format: ``compact`` or ``magenta``.
            eval_ratio: Share of inputs in the eval split.
            splits: The split folders.
        """
        cfg = get_config(config) if isinstance(config, str) else config
        return cls(
            name=cfg.name,
            family="performance",
            format=format,
            input_size=cfg.input_size,
            num_classes=cfg.num_classes,
            steps_per_second=STEPS_PER_SECOND,
            steps_per_quarter=None,
            min_pitch=0,
            num_pitches=NUM_PITCHES,
            stretch_factors=TRAINING_STRETCH_FACTORS,
            transpositions=TRAINING_TRANSPOSITIONS,
            eval_ratio=eval_ratio,
            splits=splits,
        )

    @classmethod
    def for_pianoroll(
        cls,
        steps_per_quarter: int,
        splits: tuple[str, ...] = PIANOROLL_SPLITS,
        *,
        min_pitch: int = PIANOROLL_MIN_PITCH,
        num_pitches: int = PIANOROLL_NUM_PITCHES,
        transpositions: tuple[int, ...] = (0,),
        stretch_factors: tuple[float, ...] = (1.0,),
        eval_ratio: float | None = None,
    ) -> EncodingInfo:
        """The info of a piano-roll dataset (always compact).

        Args:
            steps_per_quarter: Frames per quarter note.
            splits: The split folders (the B-L benchmarks: train, valid, test).
            min_pitch: MIDI pitch of column 0.
            num_pitches: Roll width.
            transpositions: Materialized transpositions, if any.
            stretch_factors: Materialized stretches, if any.
            eval_ratio: Share of inputs held out, None where the splits are given.
        """
        return cls(
            name=PIANOROLL,
            family="pianoroll",
            format="compact",
            input_size=num_pitches,
            num_classes=num_pitches,
            steps_per_second=None,
            steps_per_quarter=steps_per_quarter,
            min_pitch=min_pitch,
            num_pitches=num_pitches,
            stretch_factors=stretch_factors,
            transpositions=transpositions,
            eval_ratio=eval_ratio,
            splits=splits,
        )


def _lists(data: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def _jsonable(info: EncodingInfo) -> dict[str, Any]:
    return _lists(asdict(info))


def _hash(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def write_encoding_info(dir_uri: str, info: EncodingInfo) -> str:
    """Writes ``<dir_uri>/encoding.json`` atomically (local or gs://); returns its URI."""
    from musicgen import storage
    from musicgen.storage import layout

    uri = storage.join(dir_uri, layout.ENCODING)
    storage.write_text(uri, info.to_json())
    return uri


def read_encoding_info(dir_uri: str) -> EncodingInfo:
    """Reads ``<dir_uri>/encoding.json``.

    Raises:
        ObjectNotFound: There is none.
        InputError: It cannot be loaded (see :meth:`EncodingInfo.from_json`).
    """
    from musicgen import storage
    from musicgen.storage import layout

    uri = storage.join(dir_uri, layout.ENCODING)
    return EncodingInfo.from_json(storage.read_bytes(uri).decode("utf-8"), uri)
