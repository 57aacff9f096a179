"""The nine PerformanceRNN configs of Magenta's ``performance_model.py``, as frozen data."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Encoding(StrEnum):
    """How a performance event becomes an input vector."""

    ONE_HOT = "one_hot"
    COMPACT = "compact"  # the class index as a single float
    MODULO = "modulo"
    NOTE = "note"  # NotePerformance 4-tuples, 6 one-hots


class Control(StrEnum):
    """Conditioning signals, in the order Magenta concatenates them."""

    DENSITY = "notes_per_second"
    PITCH_HISTOGRAM = "pitch_class_histogram"


NUM_PITCHES = 128
MAX_SHIFT_STEPS = 100
STEPS_PER_SECOND = 100
DENSITY_WINDOW_SECONDS = 3.0
DENSITY_BIN_RANGES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
PITCH_WINDOW_SECONDS = 5.0
NOTE_MAX_SHIFT_STEPS = 1000
NOTE_MAX_DURATION_STEPS = 1000
NOTE_NUM_CLASSES = (13, 77, 128, 32, 25, 40)
_CONTROL_SIZE = {Control.DENSITY: len(DENSITY_BIN_RANGES) + 1, Control.PITCH_HISTOGRAM: 12}


@dataclass(frozen=True)
class PerformanceConfig:
    """One PerformanceRNN config.

    Attributes:
        name: Magenta's config name (``--config``).
        num_velocity_bins: 0 (no VELOCITY events) or 32.
        encoding: The input encoding.
        controls: Conditioning signals, in concatenation order.
        optional_conditioning: Prefix a disable flag and write each example twice.
    """

    name: str
    num_velocity_bins: int
    encoding: Encoding = Encoding.ONE_HOT
    controls: tuple[Control, ...] = ()
    optional_conditioning: bool = False

    @property
    def num_event_classes(self) -> int:
        """Size of the event one-hot vocabulary (356 or 388)."""
        return 2 * NUM_PITCHES + MAX_SHIFT_STEPS + self.num_velocity_bins

    @property
    def control_size(self) -> int:
        """Width of the control part of each input vector."""
        size = sum(_CONTROL_SIZE[c] for c in self.controls)
        return size + 1 if self.optional_conditioning else size

    @property
    def event_input_size(self) -> int:
        """Width of the event part of each input vector."""
        if self.encoding is Encoding.COMPACT:
            return 1
        if self.encoding is Encoding.MODULO:
            return 16 if self.num_velocity_bins else 13
        if self.encoding is Encoding.NOTE:
            return sum(NOTE_NUM_CLASSES)
        return self.num_event_classes

    @property
    def input_size(self) -> int:
        """Width of ``inputs`` in the SequenceExample."""
        return self.control_size + self.event_input_size

    @property
    def num_classes(self) -> int | tuple[int, ...]:
        """Label classes: one int, or one per sub-label for the note encoding."""
        if self.encoding is Encoding.NOTE:
            return NOTE_NUM_CLASSES
        return self.num_event_classes

    @property
    def note_performance(self) -> bool:
        """Whether events are NotePerformance 4-tuples."""
        return self.encoding is Encoding.NOTE


_D = Control.DENSITY
_P = Control.PITCH_HISTOGRAM

CONFIGS: dict[str, PerformanceConfig] = {
    c.name: c
    for c in (
        PerformanceConfig("performance", 0),
        PerformanceConfig("performance_with_dynamics", 32),
        PerformanceConfig("performance_with_dynamics_compact", 32, Encoding.COMPACT),
        PerformanceConfig("performance_with_dynamics_and_modulo_encoding", 32, Encoding.MODULO),
        PerformanceConfig("performance_with_dynamics_and_note_encoding", 32, Encoding.NOTE),
        PerformanceConfig("density_conditioned_performance_with_dynamics", 32, controls=(_D,)),
        PerformanceConfig("pitch_conditioned_performance_with_dynamics", 32, controls=(_P,)),
        PerformanceConfig("multiconditioned_performance_with_dynamics", 32, controls=(_D, _P)),
        PerformanceConfig(
            "optional_multiconditioned_performance_with_dynamics",
            32,
            controls=(_D, _P),
            optional_conditioning=True,
        ),
    )
}


def get_config(name: str) -> PerformanceConfig:
    """Returns the config named ``name``; raises KeyError naming the known ones."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise KeyError(f"unknown performance config {name!r}; known: {sorted(CONFIGS)}") from None
