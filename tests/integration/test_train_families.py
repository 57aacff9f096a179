"""The chord, seq2seq, seq2one and endecell models through the real jobs: Ray Train on 1 and 2
workers, then batch generation from the trained run (toy sizes, JSB Chorales with chords.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from musicgen.generate.batch import generate_batch
from musicgen.generate.config import GenerateConfig
from musicgen.generate.manifest import read_manifest, read_report
from musicgen.train.config import DataConfig, TrainConfig, model_config
from musicgen.train.driver import train
from tests.fixtures.tiny_family import make_jsb_examples

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]

MODELS = {
    "chord_lstm": model_config(family="chord_lstm", layers=(16,), embedding_dim=8, max_chords=300),
    "seq2seq_lstm": model_config(family="seq2seq_lstm", layers=(16,), seq2seq_window=8),
    "seq2one_lstm": model_config(
        family="seq2one_lstm",
        layers=(16,),
        dense_size=8,
        window=4,
        embedding_dim=8,
        max_chords=300,
    ),
    "seq2one_lstm_frame": model_config(
        family="seq2one_lstm", target="frame", layers=(16,), dense_size=8, window=4
    ),
    "endecell": model_config(
        family="endecell", encoder_size=8, time_layers=(16,), decoder_size=8, key_chunk=4
    ),
}


@pytest.fixture(scope="module")
def jsb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_jsb_examples(tmp_path_factory.mktemp("data") / "jsb")


def config(family: str, dataset: Path, runs: Path, **kw: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "model": MODELS[family],
        "data": DataConfig(dataset=str(dataset), eval_split="valid", window=16),
        "runs_dir": str(runs),
        "run_id": "r1",
        "batch_size": 8,
        "num_steps": 12,
        "log_every": 4,
        "eval_batches": 2,
        "checkpoint_every": 12,
    }
    return TrainConfig(**{**base, **kw})


def worker(run: Path, rank: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run / "workers" / f"rank-{rank}.json").read_text())
    return data


@pytest.mark.parametrize("name", sorted(MODELS))
def test_trains_on_one_and_two_workers_and_generates(name: str, jsb: Path, tmp_path: Path) -> None:
    family = MODELS[name].family
    chords = (
        getattr(MODELS[name], "target", "chord") == "chord"
        and "chords" in MODELS[name].applicable()
    )
    one = train(config(name, jsb, tmp_path / "one"))
    run = Path(one.run_dir)
    assert run == tmp_path / "one" / family / "r1"
    assert (run / "model.keras").is_file()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r["split"] == "train"]
    assert len(losses) == 3
    assert losses[-1] < losses[0]
    metric = "chord_nll_per_frame" if chords else "nll_per_frame"
    assert one.eval[metric] > 0

    two = train(config(name, jsb, tmp_path / "two", num_workers=2, num_steps=6))
    ranks = [worker(Path(two.run_dir), r) for r in (0, 1)]
    assert [r["final_step"] for r in ranks] == [6, 6]
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]
    assert ranks[0]["pid"] != ranks[1]["pid"]

    gen = GenerateConfig(run=one.run_dir, output=str(tmp_path / "gen"), num_samples=3,
                         batch_size=2, batch_id="g1", date="2026-12-01", num_frames=24,
                         argmax=chords, loop_window=4, render=0,
                         memorization_records=20, num_actors=1)  # fmt: skip
    report = generate_batch(gen)
    assert report.generated == 3
    manifest = read_manifest(report.prefix)
    assert [r.index for r in manifest] == [0, 1, 2]
    for row in manifest:
        assert (Path(report.prefix) / row.uri).read_bytes().startswith(b"MThd")
        assert row.metrics["frames"] == 24
    assert read_report(report.prefix)["family"] == family
