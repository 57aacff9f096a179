"""Nothing is deleted that is not ours: every delete call site, locally and on the GCS emulator.

Each test plants other datasets next to a job's output: one nested below it (``OUT/ds1/...``,
also below our own split folders, ``OUT/train/ds1/...``) and one beside it whose name only starts
the same (``OUT2/...``), named exactly like what the job writes and deletes. It then runs the real
job so that it has stale files of its own to remove, and checks that they are gone while every
neighbour keeps its bytes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from musicgen import storage
from musicgen.cli import main
from musicgen.config import ConvertConfig
from musicgen.corpus.pipeline import convert_corpus
from musicgen.errors import ConfigError, ObjectNotFound
from musicgen.generate.batch import generate_batch
from musicgen.generate.config import GenerateConfig
from musicgen.generate.pull import ChecksumMismatch, pull
from musicgen.storage import layout
from musicgen.train import checkpoints
from musicgen.train.config import DataConfig, TrainConfig, model_config
from musicgen.train.driver import train
from tests.conftest import SAMPLE_CORPUS, in_testdata
from tests.fixtures.tiny_family import make_jsb_examples
from tests.integration.test_pull import _write_batch

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]

# What our jobs write and delete, as another dataset would hold it.
NEIGHBOUR_FILES = [
    "notesequences-00000-of-00001.tfrecord",
    "train/examples-00000-of-00001.tfrecord",
    "eval/examples-00000-of-00001.tfrecord",
    "valid/examples-00000-of-00002.tfrecord",
    "train/training_performances-00000-of-00001.tfrecord",
    "stats.json",
    "ckpt-00000001.json",
    "ckpt-00000001.keras",
    "report.json",
    "b1-00000.mid",
]
MIDI = sorted((SAMPLE_CORPUS / "pop909").glob("*.mid"))


@pytest.fixture(params=["local", "gcs"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A bucket in the emulator, or a local folder standing in for one."""
    if request.param == "gcs":
        return str(request.getfixturevalue("gcs_bucket"))
    return str(tmp_path / "bucket")


def plant_neighbours(output: str) -> dict[str, bytes]:
    """Writes other datasets below ``output`` and beside it; returns each object's bytes."""
    planted = {}
    for base in (storage.join(output, "ds1"), storage.join(output, "train", "ds1"), output + "2"):
        for name in NEIGHBOUR_FILES:
            uri = storage.join(base, name)
            planted[uri] = f"not ours: {uri}".encode()
            storage.write_bytes(uri, planted[uri])
    return planted


def assert_untouched(planted: dict[str, bytes]) -> None:
    changed = [uri for uri, data in planted.items() if _bytes_or_none(uri) != data]
    assert changed == [], "neighbours deleted or changed"


def _bytes_or_none(uri: str) -> bytes | None:
    try:
        return storage.read_bytes(uri)
    except ObjectNotFound:
        return None


def names_in(folder: str) -> list[str]:
    """Base names of the files directly in ``folder``."""
    return [storage.basename(i.uri) for i in storage.list_files(folder, recursive=False)]


def read_stats(output: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(storage.read_bytes(storage.join(output, "stats.json")))
    return data


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three real MIDI files."""
    folder = tmp_path_factory.mktemp("corpus")
    for path in MIDI[:3]:
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="module")
def sequences(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Their NoteSequences, one per shard (three shards)."""
    out = tmp_path_factory.mktemp("seq")
    convert_corpus(ConvertConfig(input=str(corpus), output=str(out), files_per_shard=1))
    return out


def test_convert_removes_only_its_own_stale_shards(root: str, corpus: Path) -> None:
    out = storage.join(root, "seq")
    planted = plant_neighbours(out)
    assert main(["convert", str(corpus), out, "--files-per-shard", "1"]) == 0
    assert main(["convert", str(corpus), out, "--files-per-shard", "2"]) == 0
    assert sorted(n for n in names_in(out) if n.startswith("notesequences-")) == [
        "notesequences-00000-of-00002.tfrecord",
        "notesequences-00001-of-00002.tfrecord",
    ]
    assert read_stats(out)["stale_shards_removed"] == 3
    assert_untouched(planted)


def test_examples_remove_only_their_own_stale_shards(root: str, sequences: Path) -> None:
    out = storage.join(root, "ex")
    planted = plant_neighbours(out)
    common = ["--encoding", "performance", "--no-augment", "--eval-ratio", "0.5"]
    assert main(["examples", str(sequences), out, "--format", "magenta", *common]) == 0
    assert len(names_in(storage.join(out, "train"))) == 3  # training_performances-0000N-of-00003
    one_shard = str(sequences / "notesequences-00000-of-00003.tfrecord")
    assert main(["examples", one_shard, out, *common]) == 0
    for split in ("train", "eval"):
        assert names_in(storage.join(out, split)) == ["examples-00000-of-00001.tfrecord"]
    assert read_stats(out)["stale_shards_removed"] == 6
    assert_untouched(planted)


def test_benchmark_examples_remove_only_their_own_stale_shards(root: str) -> None:
    out = storage.join(root, "jsb")
    planted = plant_neighbours(out)
    stale = [storage.join(out, "valid", "examples-00000-of-00002.tfrecord"),
             storage.join(out, "test", "examples-00001-of-00002.tfrecord")]  # fmt: skip
    for uri in stale:
        storage.write_bytes(uri, b"an earlier plan's shard")
    jsb = in_testdata("datasets", "polyphonic", "JSB_Chorales.pickle")
    assert main(["examples", str(jsb), out, "--encoding", "pianoroll"]) == 0
    for split in ("train", "valid", "test"):
        assert names_in(storage.join(out, split)) == ["examples-00000-of-00001.tfrecord"]
    assert read_stats(out)["stale_shards_removed"] == 2
    assert_untouched(planted)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, bytes]]:
    """A tiny real run that checkpoints 3 times and keeps 1, with neighbours planted first."""
    root = tmp_path_factory.mktemp("train")
    data = make_jsb_examples(root / "jsb")
    runs = root / "runs"
    planted = plant_neighbours(str(runs / "pianoroll_lstm" / "tiny" / "checkpoints"))
    cfg = TrainConfig(
        model=model_config(family="pianoroll_lstm", layers=(16,)),
        data=DataConfig(dataset=str(data), eval_split="valid", window=16),
        runs_dir=str(runs), run_id="tiny", batch_size=8, num_steps=6, log_every=2,
        checkpoint_every=2, keep_checkpoints=1, eval_batches=1,
    )  # fmt: skip
    return train(cfg).run_dir, planted


def test_training_prunes_only_its_own_checkpoints(trained: tuple[str, dict[str, bytes]]) -> None:
    run_dir, planted = trained
    assert sorted(names_in(storage.join(run_dir, "checkpoints"))) == [
        "ckpt-00000006.json",
        "ckpt-00000006.keras",
    ]
    assert_untouched(planted)


def test_pruning_on_gcs_deletes_only_its_own_checkpoints(gcs_bucket: str) -> None:
    folder = storage.join(gcs_bucket, "runs", "pianoroll_lstm", "r1", "checkpoints")
    planted = plant_neighbours(folder)
    for step in (2, 4, 6):
        for suffix in ("json", "keras"):
            storage.write_bytes(storage.join(folder, f"ckpt-{step:08d}.{suffix}"), b"{}")
    assert checkpoints.prune_checkpoints(folder, keep=1) == [2, 4]
    assert sorted(names_in(folder)) == ["ckpt-00000006.json", "ckpt-00000006.keras"]
    assert_untouched(planted)


def test_generate_rewrites_only_its_own_report(
    trained: tuple[str, dict[str, bytes]], root: str
) -> None:
    run_dir, _ = trained
    prefix = layout.batch_prefix(root, "pianoroll_lstm-tiny", "2026-12-01", "b1")
    planted = plant_neighbours(prefix)  # also .../b12/report.json: a batch named like ours
    for index, path in enumerate(MIDI[:2]):  # pieces an earlier run left: nothing to generate
        storage.write_bytes(storage.join(prefix, f"b1-{index:05d}.mid"), path.read_bytes())
    storage.write_bytes(storage.join(prefix, layout.REPORT), b"an earlier run's report")
    cfg = GenerateConfig(run=run_dir, output=root, num_samples=2, batch_id="b1",
                         date="2026-12-01", render=0, memorization_records=0)  # fmt: skip
    for _ in range(2):
        report = generate_batch(cfg)
        assert (report.generated, report.reused) == (0, 2)
    written = json.loads(storage.read_bytes(storage.join(prefix, layout.REPORT)))
    assert written["num_samples"] == 2
    assert_untouched(planted)


def test_generate_inside_its_own_run_is_refused(trained: tuple[str, dict[str, bytes]]) -> None:
    run_dir, _ = trained
    cfg = GenerateConfig(run=run_dir, output=run_dir, num_samples=1, batch_id="b1")
    with pytest.raises(ConfigError, match=r"generate: the output .* is the input .* or inside"):
        generate_batch(cfg)
    assert not storage.exists(storage.join(run_dir, layout.GENERATED))


def test_pull_deletes_only_its_own_corrupt_copy(root: str, tmp_path: Path) -> None:
    prefix = _write_batch(root, "2024-05-01", "b1")
    dest = tmp_path / "pulled"
    planted = plant_neighbours(str(dest))
    assert pull(prefix, dest).downloaded == 5
    storage.write_bytes(storage.join(prefix, "b1-00001.mid"), b"corrupted in the bucket")
    (dest / "b1-00001.mid").write_bytes(b"corrupted here too")
    with pytest.raises(ChecksumMismatch):
        pull(prefix, dest)
    assert not (dest / "b1-00001.mid").exists()
    assert (dest / "b1-00000.mid").exists()
    assert_untouched(planted)


def test_pull_into_the_batch_itself_is_refused_before_anything_is_deleted(
    tmp_path: Path,
) -> None:
    prefix = _write_batch(str(tmp_path / "bucket"), "2024-05-01", "b1")
    corrupt = Path(prefix) / "b1-00001.mid"
    corrupt.write_bytes(b"does not match the manifest")
    for dest in (prefix, storage.join(prefix, "copy")):
        with pytest.raises(ConfigError, match=r"^pull: the (output|input) "):
            pull(prefix, dest)
    assert corrupt.read_bytes() == b"does not match the manifest"
