"""Quiet output: library noise is dropped at its source, and everything else still gets through."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from musicgen import logs


@pytest.fixture
def noisy_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module that writes to file descriptor 2 while it is imported, as a C++ library does."""
    name = "musicgen_test_noisy_import"
    (tmp_path / f"{name}.py").write_text(
        "import os\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called\\n')\n"
        "os.write(2, b'I0000 cudart_stub.cc:31] Could not find cuda drivers\\n')\n"
        "os.write(2, b'E0000 something that matters\\n')\n"
        "VALUE = 42\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_import_filter_drops_only_the_named_noise(
    noisy_module: str, capfd: pytest.CaptureFixture[str]
) -> None:
    logs.filter_import_stderr(noisy_module, (logs.ABSL_PREAMBLE, logs.NO_CUDA_DRIVER))
    module = __import__(noisy_module)
    assert module.VALUE == 42
    err = capfd.readouterr().err
    assert err == "E0000 something that matters\n"
    assert not any(type(f).__name__ == "_StderrFilteringFinder" for f in sys.meta_path)


def test_without_the_filter_the_noise_is_there(
    noisy_module: str, capfd: pytest.CaptureFixture[str]
) -> None:
    __import__(noisy_module)
    err = capfd.readouterr().err
    assert "absl::InitializeLog" in err
    assert "cudart_stub.cc" in err


def test_filter_is_a_no_op_for_a_module_already_imported() -> None:
    before = list(sys.meta_path)
    logs.filter_import_stderr("os", (b"x",))
    assert sys.meta_path == before


def test_stderr_filtered_restores_stderr_when_the_block_raises(
    capfd: pytest.CaptureFixture[str],
) -> None:
    def noisy_then_fails() -> None:
        with logs.stderr_filtered((b"drop",)):
            os.write(2, b"drop me\nkeep me\n")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        noisy_then_fails()
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "keep me\nafter\n"


def test_quiet_libraries_points_ray_data_at_the_packaged_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RAY_DATA_LOGGING_CONFIG", raising=False)
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    logs.quiet_libraries()
    config = Path(os.environ["RAY_DATA_LOGGING_CONFIG"])
    assert config.is_file()
    assert "ray.data:" in config.read_text()
    # Ray Train's report line logger is named after its file; the name must match a real file.
    context_logger = next(
        name
        for name in logging.root.manager.loggerDict
        if Path(name).parts[-2:] == ("execution", "context.py")
    )
    assert Path(context_logger).is_file()
    assert logging.getLogger(context_logger).level == logging.WARNING


def test_ray_data_honours_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from ray.data._internal import logging as ray_data_logging

    monkeypatch.setenv("RAY_DATA_LOGGING_CONFIG", str(logs.RAY_DATA_LOGGING_CONFIG))
    ray_data_logging.configure_logging()
    assert logging.getLogger("ray.data").level == logging.ERROR
    monkeypatch.delenv("RAY_DATA_LOGGING_CONFIG")
    ray_data_logging.configure_logging()  # back to Ray's own, for the other tests
