"""The note-encoding PerformanceRNN config generates through the batch job, and a setting the
family cannot honour stops the job in the driver, before any actor starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from musicgen import storage
from musicgen.config import ConvertConfig, ExamplesConfig
from musicgen.corpus.pipeline import convert_corpus
from musicgen.errors import ConfigError
from musicgen.examples.pipeline import make_examples
from musicgen.generate.batch import generate_batch
from musicgen.generate.config import GenerateConfig
from musicgen.generate.manifest import read_manifest
from musicgen.train.config import DataConfig, TrainConfig, model_config
from musicgen.train.driver import train

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]

SAMPLE = Path(__file__).parents[2] / "data" / "sample-corpus"
CONFIG = "performance_with_dynamics_and_note_encoding"


@pytest.fixture(scope="module")
def note_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("note")
    convert_corpus(ConvertConfig(input=str(SAMPLE), output=str(root / "seq")))
    make_examples(ExamplesConfig(input=str(root / "seq"), output=str(root / "ex"), eval_ratio=0.2,
                                 encoding=CONFIG))  # fmt: skip
    cfg = TrainConfig(
        model=model_config(family="performance_rnn", layers=(16,)),
        data=DataConfig(dataset=str(root / "ex")),
        runs_dir=str(root / "runs"), run_id="note", batch_size=4, num_steps=6, log_every=3,
        checkpoint_every=6, eval_batches=1,
    )  # fmt: skip
    return train(cfg).run_dir


def test_note_encoding_generates_a_batch(note_run: str, tmp_path: Path) -> None:
    cfg = GenerateConfig(run=note_run, output=str(tmp_path), num_samples=3, batch_size=2,
                         batch_id="n1", date="2026-12-07", num_steps=500, render=0)  # fmt: skip
    report = generate_batch(cfg)
    assert report.generated == 3
    rows = read_manifest(report.prefix)
    for row in rows:
        data = storage.read_bytes(storage.join(report.prefix, row.uri))
        assert data.startswith(b"MThd")
        assert row.metrics["notes"] > 0
        assert row.metrics["events"] == row.metrics["notes"]  # one RNN step per note


def test_beam_search_on_the_note_encoding_exits_in_the_driver(
    note_run: str, tmp_path: Path
) -> None:
    cfg = GenerateConfig(run=note_run, output=str(tmp_path), num_samples=1, beam_size=2,
                         batch_id="n2", date="2026-12-07", render=0)  # fmt: skip
    with pytest.raises(ConfigError, match="beam_size=2: beam search is not available"):
        generate_batch(cfg)
    assert not list(tmp_path.rglob("*.mid"))  # nothing ran
