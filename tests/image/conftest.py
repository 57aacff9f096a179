"""Prints what the image tests measured (image size, build time, each command's duration)."""

from __future__ import annotations

import pytest

from tests.image.figures import FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("image figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
