"""Counts of a conversion by outcome and reason; shards' counts merge into the job's."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from musicgen.corpus.convert import CONVERTED, FAILED, SKIPPED, FileOutcome


@dataclass
class ConversionStats:
    """Per-outcome counts; `inputs == converted + failed + skipped` always holds."""

    inputs: int = 0
    converted: int = 0
    failed: int = 0
    skipped: int = 0
    sequences: int = 0
    notes: int = 0
    bytes_read: int = 0
    parser_fallbacks: int = 0
    recovered: int = 0  # converted only after a --lenient repair; counted in `converted` too
    reasons: dict[str, Counter[str]] = field(
        default_factory=lambda: {FAILED: Counter(), SKIPPED: Counter(), CONVERTED: Counter()}
    )
    source_types: Counter[str] = field(default_factory=Counter)

    def add(self, outcome: FileOutcome) -> None:
        """Counts one file's outcome."""
        self.inputs += 1
        self.source_types[outcome.source.source_type] += 1
        if outcome.status == CONVERTED:
            self.converted += 1
            self.sequences += len(outcome.sequences)
            self.notes += outcome.notes
            self.bytes_read += outcome.source.size
        elif outcome.status == FAILED:
            self.failed += 1
        elif outcome.status == SKIPPED:
            self.skipped += 1
        else:
            raise ValueError(f"unknown outcome {outcome.status!r} for {outcome.source.uri}")
        if outcome.reason:
            self.reasons[outcome.status][outcome.reason] += 1
        if outcome.fallback:
            self.parser_fallbacks += 1
        if outcome.recovered:
            self.recovered += 1

    def merge(self, other: ConversionStats) -> None:
        """Adds another shard's counts into this one."""
        for name in (
            "inputs", "converted", "failed", "skipped", "sequences", "notes", "bytes_read",
            "parser_fallbacks", "recovered",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for status, counter in other.reasons.items():
            self.reasons.setdefault(status, Counter()).update(counter)
        self.source_types.update(other.source_types)

    @property
    def consistent(self) -> bool:
        """Whether every input is accounted for exactly once."""
        return self.inputs == self.converted + self.failed + self.skipped

    @property
    def failure_ratio(self) -> float:
        """failed / inputs (0 for an empty corpus)."""
        return self.failed / self.inputs if self.inputs else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counts, reasons sorted by frequency."""
        return {
            "inputs": self.inputs,
            "converted": self.converted,
            "failed": self.failed,
            "skipped": self.skipped,
            "sequences_written": self.sequences,
            "notes": self.notes,
            "bytes_converted": self.bytes_read,
            "parser_fallbacks": self.parser_fallbacks,
            "recovered": self.recovered,
            "reasons": {
                status: dict(counter.most_common())
                for status, counter in sorted(self.reasons.items())
                if counter
            },
            "source_types": dict(sorted(self.source_types.items())),
        }
