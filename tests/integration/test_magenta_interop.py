"""Magenta interop end to end, through the CLI and on a local Ray: import a golden bundle, batch
generate from it (a conditioned config, with its control), fine-tune from it on 2 workers, export
it back; and the ways a bad bundle exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from musicgen import cli
from musicgen.config import ExamplesConfig
from musicgen.examples.pipeline import make_examples
from musicgen.interop.magenta_bundle import bundle_bytes, read_bundle
from musicgen.interop.magenta_checkpoint import v1_checkpoint_variables
from musicgen.train.config import DataConfig, TrainConfig
from musicgen.train.driver import train
from tests.conftest import in_testdata

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]

DENSITY = "density_conditioned_performance_with_dynamics_3x64"
DYNAMICS = "performance_with_dynamics_1x96"


def bundle(name: str) -> str:
    return str(in_testdata("golden", "magenta-bundles", f"{name}.mag"))


def import_run(name: str, run: Path) -> str:
    assert cli.main(["import-magenta", bundle(name), str(run)]) == 0
    return str(run)


def test_generate_from_an_imported_conditioned_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = import_run(DENSITY, tmp_path / "runs" / "performance_rnn" / "magenta-density")
    assert "density_conditioned_performance_with_dynamics, LSTM 64x64x64" in capsys.readouterr().out
    out = tmp_path / "out"
    code = cli.main([
        "generate", "--run", run, "--output", str(out), "--num-samples", "2",
        "--num-steps", "150", "--notes-per-second", "3", "--render", "0", "--batch-id", "b1",
        "--num-actors", "1",
    ])  # fmt: skip
    assert code == 0
    batch = out / "generated" / "performance_rnn-magenta-density"
    mids = sorted(batch.glob("*/b1/*.mid"))
    assert [p.name for p in mids] == ["b1-00000.mid", "b1-00001.mid"]
    report = json.loads(next(batch.glob("*/b1/report.json")).read_text())
    assert report["config"]["notes_per_second"] == 3.0
    assert report["encoding"] == "density_conditioned_performance_with_dynamics"


def write_bundle(path: Path, source: str, *, generator_id: str | None = None,
                 drop: str | None = None) -> str:  # fmt: skip
    """A copy of a golden bundle with another generator id, or without one variable."""
    original = read_bundle(bundle(source))
    checkpoint = original.checkpoint
    if drop is not None:
        import tensorflow as tf

        variables = v1_checkpoint_variables(checkpoint, original.uri)
        v1 = tf.compat.v1
        with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
            kept = [v1.Variable(v, name=n) for n, v in variables.items() if n != drop]
            session.run(v1.global_variables_initializer())
            saver = v1.train.Saver(kept, write_version=v1.train.SaverDef.V1)
            saver.save(session, str(path.with_suffix(".ckpt")), write_meta_graph=False)
        checkpoint = path.with_suffix(".ckpt").read_bytes()
    path.write_bytes(bundle_bytes(generator_id or original.generator_id, "", "", checkpoint,
                                  original.metagraph))  # fmt: skip
    return str(path)


def test_bad_bundles_exit_2_naming_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = Path(bundle(DYNAMICS)).read_bytes()
    (tmp_path / "cut.mag").write_bytes(data[: len(data) // 3])
    cases = {
        str(tmp_path / "cut.mag"): "truncated",
        write_bundle(tmp_path / "melody.mag", DYNAMICS, generator_id="attention_rnn"):
            "unknown-config: generator id 'attention_rnn'",
        write_bundle(tmp_path / "nofc.mag", DYNAMICS, drop="fully_connected/biases"):
            "missing-variable: fully_connected/biases",
        write_bundle(tmp_path / "other.mag", DYNAMICS, generator_id="performance"):
            "config-mismatch: config performance takes inputs of 356",
        str(tmp_path / "absent.mag"): "not-found",
    }  # fmt: skip
    for path, message in cases.items():
        assert cli.main(["import-magenta", path, str(tmp_path / "run")]) == 2, path
        err = capsys.readouterr().err
        assert f"musicgen import-magenta: error: {path}: {message}" in err, err
    assert not (tmp_path / "run" / "model.keras").exists()


@pytest.fixture(scope="module")
def dynamics_examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ex") / "pwd"
    golden = in_testdata("golden", "magenta-performance-rnn", "notesequences.tfrecord")
    make_examples(ExamplesConfig(input=str(golden), output=str(out), eval_ratio=0.5,
                                 augment=False))  # fmt: skip
    return out


def source_eval_loss(run: str, cfg: TrainConfig) -> float:
    """The source model's eval loss on the dataset's eval split, as the trainer batches it."""
    from musicgen.examples.encoding_info import read_encoding_info
    from musicgen.examples.readers import list_shards
    from musicgen.generate.loaded_run import load_run
    from musicgen.models.registry import get_family

    family = get_family("performance_rnn")
    model = load_run(run).model
    info = read_encoding_info(cfg.data.dataset)
    files = list_shards(cfg.data.dataset, cfg.data.eval_split)
    ds = family.dataset(files, info, cfg.data, batch_size=cfg.per_worker_batch_size,
                        training=False, seed=cfg.seed, num_shards=1, shard_index=0)  # fmt: skip
    totals: dict[str, float] = {}
    for batch in ds:
        for key, value in family.batch_stats(model, batch, training=False).items():
            totals[key] = totals.get(key, 0.0) + float(value)
    return family.summarize(totals)["loss"]


def test_fine_tune_an_imported_bundle_on_two_workers_then_export_it(
    dynamics_examples: Path, tmp_path: Path
) -> None:
    source = import_run(DYNAMICS, tmp_path / "magenta-pwd")
    cfg = TrainConfig(
        data=DataConfig(dataset=str(dynamics_examples)), runs_dir=str(tmp_path / "runs"),
        run_id="ft", batch_size=8, num_steps=4, log_every=2, checkpoint_every=4, num_workers=2,
        init_from=source,
    )  # fmt: skip
    report = train(cfg)
    rows = [
        json.loads(x) for x in (Path(report.run_dir) / "metrics.jsonl").read_text().splitlines()
    ]
    step0 = next(r for r in rows if r["split"] == "eval" and r["step"] == 0)
    expected = source_eval_loss(source, cfg)
    assert step0["loss"] == pytest.approx(expected, rel=1e-5)
    resolved = (Path(report.run_dir) / "config.resolved.yaml").read_text()
    assert "- 96" in resolved  # the source's layers, not the default 3 x 512
    assert report.eval["loss"] < step0["loss"]  # it trains on from there

    out = tmp_path / "back.mag"
    assert cli.main(["export-magenta", report.run_dir, str(out)]) == 0
    exported = read_bundle(str(out))
    assert exported.generator_id == "performance_with_dynamics"
    assert report.run_dir in exported.bundle_description
    assert cli.main(["import-magenta", str(out), str(tmp_path / "again")]) == 0
    from musicgen.generate.loaded_run import load_run

    tuned = load_run(report.run_dir).model.get_weights()
    again = load_run(str(tmp_path / "again")).model.get_weights()
    for a, b in zip(tuned, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_fine_tuning_on_another_encoding_exits_2_naming_both(
    dynamics_examples: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = import_run("performance_2x128", tmp_path / "magenta-perf")
    code = cli.main(["train", "--dataset", str(dynamics_examples), "--init-from", source,
                     "--runs-dir", str(tmp_path / "runs"), "--num-steps", "1"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "encoding 'performance' (inputs 356" in err
    assert "'performance_with_dynamics' (inputs 388" in err
    assert not (tmp_path / "runs").exists()
