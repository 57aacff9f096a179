"""Counts of an examples job: per input sequence outcome, per split output, Magenta's counters."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

CONVERTED = "converted"  # the sequence gave at least one example
SKIPPED = "skipped"  # read fine but gave no example (too short, empty, every chunk discarded)
FAILED = "failed"  # could not be read or processed (corrupt record, bad proto, error)


@dataclass
class ExamplesStats:
    """``inputs == converted + skipped + failed`` always holds; shards merge into the job's."""

    inputs: int = 0
    converted: int = 0
    skipped: int = 0
    failed: int = 0
    examples: Counter[str] = field(default_factory=Counter)  # by split
    bytes_written: Counter[str] = field(default_factory=Counter)  # by split
    sequences_by_split: Counter[str] = field(default_factory=Counter)
    reasons: dict[str, Counter[str]] = field(
        default_factory=lambda: {FAILED: Counter(), SKIPPED: Counter()}
    )
    pipeline: Counter[str] = field(default_factory=Counter)  # Magenta's statistics, its names

    def add(self, outcome: str, reason: str | None = None) -> None:
        """Counts one input sequence (or one unreadable record)."""
        if outcome not in (CONVERTED, SKIPPED, FAILED):
            raise ValueError(f"unknown outcome {outcome!r}")
        self.inputs += 1
        setattr(self, outcome, getattr(self, outcome) + 1)
        if reason is not None:
            self.reasons.setdefault(outcome, Counter())[reason] += 1

    def merge(self, other: ExamplesStats) -> None:
        """Adds another shard's counts into this one."""
        for name in ("inputs", "converted", "skipped", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("examples", "bytes_written", "sequences_by_split", "pipeline"):
            getattr(self, name).update(getattr(other, name))
        for outcome, counter in other.reasons.items():
            self.reasons.setdefault(outcome, Counter()).update(counter)

    @property
    def consistent(self) -> bool:
        """Whether every input is accounted for exactly once."""
        return self.inputs == self.converted + self.skipped + self.failed

    @property
    def failure_ratio(self) -> float:
        """failed / inputs (0 when nothing was read)."""
        return self.failed / self.inputs if self.inputs else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counts; Magenta's counters sorted by name, as its logs print them."""
        return {
            "inputs": self.inputs,
            "converted": self.converted,
            "skipped": self.skipped,
            "failed": self.failed,
            "sequences_by_split": dict(sorted(self.sequences_by_split.items())),
            "examples": dict(sorted(self.examples.items())),
            "bytes_written": dict(sorted(self.bytes_written.items())),
            "reasons": {
                outcome: dict(counter.most_common())
                for outcome, counter in sorted(self.reasons.items())
                if counter
            },
            "pipeline_statistics": dict(sorted(self.pipeline.items())),
        }
