"""Batch generation from real trained runs, on a local Ray and into the GCS emulator."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from musicgen import storage
from musicgen.config import ConvertConfig, ExamplesConfig
from musicgen.corpus.pipeline import convert_corpus
from musicgen.examples.pipeline import make_examples
from musicgen.generate.batch import generate_batch
from musicgen.generate.config import GenerateConfig
from musicgen.generate.corpus_compare import FEATURES
from musicgen.generate.manifest import read_manifest, read_report
from musicgen.generate.pull import pull
from musicgen.generate.quality import GENERATION_FACTS, metrics_of_bytes
from musicgen.storage import layout
from musicgen.train.config import DataConfig, TrainConfig, model_config
from musicgen.train.driver import train
from tests.fixtures.tiny_family import make_jsb_examples

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]

SAMPLE = Path(__file__).parents[2] / "data" / "sample-corpus"


@pytest.fixture(scope="module")
def performance_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PerformanceRNN trained briefly on the bundled sample corpus, with the real trainer."""
    root = tmp_path_factory.mktemp("perf")
    convert_corpus(ConvertConfig(input=str(SAMPLE), output=str(root / "seq")))
    make_examples(ExamplesConfig(input=str(root / "seq"), output=str(root / "ex"), eval_ratio=0.2))
    cfg = TrainConfig(
        model=model_config(family="performance_rnn", layers=(32,), input_mode="embedding",
                          embedding_dim=16),
        data=DataConfig(dataset=str(root / "ex")),
        runs_dir=str(root / "runs"), run_id="tiny", batch_size=8, num_steps=12, log_every=4,
        checkpoint_every=12, eval_batches=2,
    )  # fmt: skip
    return train(cfg).run_dir


@pytest.fixture(scope="module")
def roll_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("roll")
    data = make_jsb_examples(root / "jsb")
    cfg = TrainConfig(
        model=model_config(family="pianoroll_lstm", layers=(16,)),
        data=DataConfig(dataset=str(data), eval_split="valid", window=16),
        runs_dir=str(root / "runs"), run_id="tiny", batch_size=8, num_steps=8, log_every=4,
        checkpoint_every=8, eval_batches=1,
    )  # fmt: skip
    return train(cfg).run_dir


def test_batch_lands_in_the_bucket_with_manifest_report_and_renders(
    performance_run: str, gcs_bucket: str, tmp_path: Path
) -> None:
    cfg = GenerateConfig(run=performance_run, output=gcs_bucket, num_samples=6, batch_size=4,
                         batch_id="b1", date="2026-12-01", num_steps=400, render=1)  # fmt: skip
    report = generate_batch(cfg)
    prefix = f"{gcs_bucket}/generated/performance_rnn-tiny/2026-12-01/b1"
    assert report.prefix == prefix
    assert (report.generated, report.reused) == (6, 0)
    rows = read_manifest(prefix)
    assert [r.sample_id for r in rows] == [f"b1-{i:05d}" for i in range(6)]
    assert len({r.seed for r in rows}) == 6
    for row in rows:
        data = storage.read_bytes(storage.join(prefix, row.uri))
        assert data.startswith(b"MThd")
        assert len(data) == row.size
        assert row.metrics["notes"] >= 0
        assert "longest_shared_run" in row.metrics
    done = read_report(prefix)
    assert done["num_samples"] == 6
    assert done["family"] == "performance_rnn"
    assert "pitch_class_entropy" in done["quality"]
    assert done["memorization"]["longest_shared_run"] is not None
    assert storage.exists(storage.join(prefix, "renders", "b1-00000.png"))
    # Judged against the held-out split (Yang & Lerch), with a page for people beside it.
    comparison = done["corpus_comparison"]
    assert comparison["batch_pieces"] == 6
    assert comparison["corpus_pieces"] > 0
    assert set(comparison["features"]) == set(FEATURES)
    assert all(0 <= f["oa"] <= 1 for f in comparison["features"].values())
    page = done["report_html"]
    assert page["page"] == layout.REPORT_HTML
    assert storage.exists(storage.join(prefix, layout.REPORT_HTML))
    assert {layout.render_name("b1-00000", ".png"), layout.render_name("b1-00000", ".ogg"),
            *(layout.plot_name(f) for f in FEATURES)} == set(page["files"])  # fmt: skip
    # Honest speed: loading and tracing are apart from generation.
    timing = done["timing"]
    assert timing["pieces"] == 6
    assert timing["events"] == sum(r.metrics["events"] for r in rows)
    assert timing["load_s"] > 0
    assert timing["compile_s"] > 0
    assert timing["generate_s"] > 0
    assert done["events_per_second"] == timing["events_per_second"] > 0
    for row in rows:  # generation facts, recorded once
        assert row.metrics["events"] > 0
        assert row.metrics["log_likelihood"] < 0

    # A re-run changes nothing, not even a byte of the manifest or the report.
    files = (layout.MANIFEST, layout.REPORT, layout.REPORT_HTML, *page["files"])
    first = {name: storage.read_bytes(storage.join(prefix, name)) for name in files}
    for text in first.values():
        assert b"nan" not in text.lower()
        assert b"infinity" not in text.lower()
    before = {r.uri: storage.read_bytes(storage.join(prefix, r.uri)) for r in rows}
    again = generate_batch(cfg)
    assert (again.generated, again.reused) == (0, 6)
    assert {name: storage.read_bytes(storage.join(prefix, name)) for name in files} == first
    assert again.rows == rows
    # A batch that lost pieces is completed, identically: same bytes, the first run's rows.
    storage.delete(storage.join(prefix, "b1-00002.mid"))
    storage.delete(storage.join(prefix, "b1-00005.mid"))
    storage.delete(storage.join(prefix, layout.REPORT))
    fixed = generate_batch(cfg)
    assert (fixed.generated, fixed.reused) == (2, 4)
    assert read_manifest(prefix) == rows
    assert storage.read_bytes(storage.join(prefix, layout.MANIFEST)) == first[layout.MANIFEST]
    assert read_report(prefix)["timing"]["pieces"] == 2
    after = {r.uri: storage.read_bytes(storage.join(prefix, r.uri)) for r in read_manifest(prefix)}
    assert after == before  # same seeds, same model: the very same pieces
    names = sorted(storage.basename(f.uri) for f in storage.list_files(prefix, recursive=False))
    assert names == sorted([*before, "manifest.jsonl", "report.json", "report.html"])

    # Pull verifies and resumes.
    dest = tmp_path / "pulled"
    first = pull(prefix, str(dest))
    assert first.downloaded == 6
    (dest / "b1-00001.mid").unlink()
    assert pull(prefix, str(dest)).downloaded == 1
    assert json.loads((dest / "report.json").read_text())["num_samples"] == 6
    for name in [layout.REPORT_HTML, *page["files"]]:  # the page and what it shows
        assert (dest / name).read_bytes() == storage.read_bytes(storage.join(prefix, name))
    # Every metric of the bytes is what a puller computes from the file it got.
    for row in rows:
        of_bytes = {k: v for k, v in row.metrics.items() if k not in GENERATION_FACTS}
        assert metrics_of_bytes((dest / row.uri).read_bytes(), corpus=None) == {
            k: v for k, v in of_bytes.items() if k != "longest_shared_run"
        }


def test_top_k_and_top_p_reach_the_generator_and_are_recorded(
    performance_run: str, tmp_path: Path
) -> None:
    # Top-1 sampling is greedy decoding: every seed gives the same piece.
    cfg = GenerateConfig(run=performance_run, output=str(tmp_path), num_samples=3, batch_size=3,
                         batch_id="g1", date="2026-12-01", num_steps=200, render=0,
                         compare_records=0, top_k=1, top_p=0.9)  # fmt: skip
    report = generate_batch(cfg)
    assert len({r.sha256 for r in report.rows}) == 1
    assert len({r.seed for r in report.rows}) == 3
    assert report.rows[0].settings["top_k"] == 1
    assert report.rows[0].settings["top_p"] == 0.9
    assert report.report["corpus_comparison"] == {"skipped": "compare_records is 0"}
    nucleus = GenerateConfig(**{**cfg.__dict__, "batch_id": "g2", "top_k": 0, "top_p": 0.95})
    assert len({r.sha256 for r in generate_batch(nucleus).rows}) == 3


def test_a_killed_actor_is_retried_and_the_batch_completes(roll_run: str, tmp_path: Path) -> None:
    import psutil

    cfg = GenerateConfig(run=roll_run, output=str(tmp_path), num_samples=8, batch_size=1,
                         batch_id="k1", date="2026-12-01", num_frames=64, render=0,
                         num_actors=1)  # fmt: skip
    killed: list[int] = []

    def kill_first_actor() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            prefix = tmp_path / "generated" / "pianoroll_lstm-tiny" / "2026-12-01" / "k1"
            if prefix.exists() and any(prefix.glob("*.mid")):
                for proc in psutil.process_iter(["pid", "cmdline"]):
                    if "GeneratorActor" in " ".join(proc.info["cmdline"] or []):
                        os.kill(proc.info["pid"], signal.SIGKILL)
                        killed.append(proc.info["pid"])
                        return
            time.sleep(0.05)

    thread = threading.Thread(target=kill_first_actor)
    thread.start()
    report = generate_batch(cfg)
    thread.join()
    assert killed, "no generator actor was found to kill"
    assert len(report.rows) == 8
    assert [r.index for r in report.rows] == list(range(8))
    assert read_report(report.prefix)["num_samples"] == 8


def test_generate_cli_and_render(
    roll_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from musicgen.cli import main

    out = tmp_path / "gen"
    argv = ["generate", "--run", roll_run, "--output", str(out), "--num-samples", "2",
            "--batch-id", "c1", "--num-frames", "16", "--render", "0"]  # fmt: skip
    assert main(argv) == 0
    assert "2 pieces at" in capsys.readouterr().out
    midi = next(out.rglob("c1-00000.mid"))
    # Piano-roll runs are compared with their held-out split (JSB's "valid") too.
    comparison = json.loads(next(out.rglob("report.json")).read_text())["corpus_comparison"]
    assert comparison["corpus_pieces"] > 0
    assert comparison["batch_pieces"] == 2
    assert main(["render", str(midi), "--png", str(tmp_path / "a.png")]) == 0
    assert (tmp_path / "a.png").stat().st_size > 1000
    assert main(["generate", "--run", str(tmp_path / "nope"), "--output", str(out)]) == 2
