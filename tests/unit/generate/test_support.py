"""Settings a family cannot honour are refused by name, before any actor starts."""

from __future__ import annotations

import pytest

from musicgen.generate.config import GenerateConfig
from musicgen.generate.support import unsupported_settings


def cfg(**kw: object) -> GenerateConfig:
    return GenerateConfig(run="/r", output="/o", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("family", "encoding", "settings", "named"),
    [
        ("pianoroll_lstm", "pianoroll", {"beam_size": 4}, "beam_size=4"),
        ("biaxial_lstm", "pianoroll", {"notes_per_second": 3.0}, "notes_per_second"),
        ("chord_lstm", "pianoroll", {"disable_conditioning": True}, "disable_conditioning"),
        (
            "performance_rnn",
            "performance_with_dynamics_and_note_encoding",
            {"branch_factor": 2},
            "note encoding",
        ),
        ("performance_rnn", "performance_with_dynamics", {"notes_per_second": 3.0},
         "not density-conditioned"),
        ("performance_rnn", "density_conditioned_performance_with_dynamics",
         {"pitch_class_histogram": ",".join(["1"] * 12), "notes_per_second": 2.0},
         "not pitch-conditioned"),
        ("performance_rnn", "performance", {"disable_conditioning": True},
         "no optional conditioning"),
        ("performance_rnn", "density_conditioned_performance_with_dynamics", {},
         "notes_per_second: density_conditioned_performance_with_dynamics needs it"),
        ("performance_rnn", "pitch_conditioned_performance_with_dynamics", {},
         "pitch_class_histogram: pitch_conditioned_performance_with_dynamics needs it"),
    ],
)  # fmt: skip
def test_inapplicable_settings_are_named(
    family: str, encoding: str, settings: dict[str, object], named: str
) -> None:
    problems = unsupported_settings(family, encoding, cfg(**settings))
    assert len(problems) == 1
    assert named in problems[0]


@pytest.mark.parametrize(
    ("family", "encoding", "settings"),
    [
        ("pianoroll_lstm", "pianoroll", {"temperature": 0.8, "num_frames": 64}),
        ("performance_rnn", "performance_with_dynamics", {"beam_size": 2, "branch_factor": 2}),
        ("performance_rnn", "performance_with_dynamics_and_note_encoding", {"temperature": 0.9}),
        ("performance_rnn", "optional_multiconditioned_performance_with_dynamics",
         {"notes_per_second": 2.0, "pitch_class_histogram": ",".join(["1"] * 12),
          "disable_conditioning": True}),
    ],
)  # fmt: skip
def test_applicable_settings_pass(family: str, encoding: str, settings: dict[str, object]) -> None:
    assert unsupported_settings(family, encoding, cfg(**settings)) == []
