"""Every preset under configs/ loads into a valid TrainConfig (with a dataset given)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from musicgen.config import deep_merge, from_dict
from musicgen.train.config import TrainConfig

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))


def test_there_are_presets_for_every_family() -> None:
    families = {yaml.safe_load(p.read_text())["model"]["family"] for p in CONFIGS}
    assert families == {
        "performance_rnn",
        "pianoroll_lstm",
        "biaxial_lstm",
        "chord_lstm",
        "seq2seq_lstm",
        "endecell",
        "seq2one_lstm",
    }


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_preset_resolves(path: Path) -> None:
    data = deep_merge(yaml.safe_load(path.read_text()), {"data": {"dataset": "examples"}})
    cfg = from_dict(TrainConfig, data, source=str(path))
    assert cfg.model.family in path.stem
