"""Measured figures of an image test run (sizes, build and run times), shown in pytest's summary."""

from __future__ import annotations

FIGURES: dict[str, str] = {}


def record(name: str, value: str) -> None:
    FIGURES[name] = value


def seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 120 else f"{value:.0f} s ({value / 60:.1f} min)"
