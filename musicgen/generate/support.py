"""Which generation settings a run's family can honour, checked in the driver before any actor
starts: a setting that would be silently ignored, or fail deep inside an actor, is an error
(exit 2) that names it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from musicgen.encodings.performance_configs import Control, get_config
from musicgen.errors import ConfigError

if TYPE_CHECKING:
    from musicgen.generate.config import GenerateConfig
    from musicgen.generate.loaded_run import LoadedRun

_BEAM = ("beam_size", "branch_factor", "steps_per_iteration")


def unsupported_settings(family: str, encoding: str, cfg: GenerateConfig) -> list[str]:
    """Messages for the settings of ``cfg`` that a ``family`` run trained on ``encoding``
    (its dataset's ``encoding.json`` name) cannot honour; empty if all apply."""
    beam = [f"{name}={getattr(cfg, name)}" for name in _BEAM if getattr(cfg, name) != 1]
    if family != "performance_rnn":
        problems = []
        if beam:
            problems.append(
                f"{', '.join(beam)}: beam search is PerformanceRNN's; {family} samples frame "
                "by frame"
            )
        for name in ("notes_per_second", "pitch_class_histogram"):
            if getattr(cfg, name) is not None:
                problems.append(f"{name}: {family} takes no control signals")
        if cfg.disable_conditioning:
            problems.append(f"disable_conditioning: {family} takes no control signals")
        return problems
    config = get_config(encoding)
    problems = []
    if config.note_performance and beam:
        problems.append(
            f"{', '.join(beam)}: beam search is not available for the note encoding "
            f"({config.name}); use plain sampling"
        )
    if cfg.notes_per_second is not None and Control.DENSITY not in config.controls:
        problems.append(f"notes_per_second: {config.name} is not density-conditioned")
    if cfg.pitch_class_histogram is not None and Control.PITCH_HISTOGRAM not in config.controls:
        problems.append(f"pitch_class_histogram: {config.name} is not pitch-conditioned")
    if cfg.disable_conditioning and not config.optional_conditioning:
        problems.append(f"disable_conditioning: {config.name} has no optional conditioning")
    disabled = cfg.disable_conditioning and config.optional_conditioning
    if Control.DENSITY in config.controls and cfg.notes_per_second is None and not disabled:
        problems.append(f"notes_per_second: {config.name} needs it (or disable_conditioning)")
    if (
        Control.PITCH_HISTOGRAM in config.controls
        and cfg.pitch_class_histogram is None
        and not disabled
    ):
        problems.append(f"pitch_class_histogram: {config.name} needs it (or disable_conditioning)")
    return problems


def check_supported(run: LoadedRun, cfg: GenerateConfig) -> None:
    """Raises ConfigError naming every setting the run cannot honour."""
    problems = unsupported_settings(run.family, run.info.name, cfg)
    if problems:
        raise ConfigError(f"generate: {run.uri} cannot honour: " + "; ".join(problems))
