"""Storage errors that say what to do: a missing bucket or an output overlapping its input exits
2 in one line before any work, and a failed listing is never mistaken for an empty folder.

Runs against the real GCS emulator; no Ray is started (every failure here comes first).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from musicgen import storage
from musicgen.cli import main
from musicgen.errors import BucketNotFound
from musicgen.examples.pipeline import find_sequence_shards, remove_stale_shards
from musicgen.generate.batch import _existing
from musicgen.generate.config import GenerateConfig
from musicgen.train.checkpoints import list_checkpoints
from tests.conftest import SAMPLE_CORPUS

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("gcs_emulator")]

MISSING = "gs://no-such-bucket-musicgen"


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, float]:
    """Exit code, the one line written to stderr, and the seconds it took."""
    started = time.monotonic()
    code = main(argv)
    seconds = time.monotonic() - started
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one line: no traceback, no retry noise
    return code, err[0], seconds


@pytest.fixture
def shard(tmp_path: Path) -> Path:
    """A folder holding one NoteSequence shard (its content is never reached)."""
    path = tmp_path / "seq" / "notesequences-00000-of-00001.tfrecord"
    path.parent.mkdir()
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["convert", "{missing}/corpus", "{out}"],
        ["convert", "{corpus}", "{missing}/seq"],
        ["examples", "{seq}", "{missing}/ex"],
        ["pull", "{missing}/generated/m/2024-01-01/b1", "{out}"],
        ["train", "--dataset", "{missing}/ex", "--runs-dir", "{out}"],
        ["train", "--dataset", "{seq}", "--runs-dir", "{missing}/runs"],
    ],
)
def test_a_missing_bucket_exits_2_at_once_naming_it(
    argv: list[str], shard: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    places = {"missing": MISSING, "out": out, "corpus": SAMPLE_CORPUS, "seq": shard.parent}
    code, line, seconds = run_cli([arg.format(**places) for arg in argv], capsys)
    assert code == 2
    assert line.startswith(f"musicgen {argv[0]}: error: {MISSING}")
    assert line.endswith(f"bucket {MISSING} does not exist")
    assert seconds < 10
    assert not out.exists()  # refused before any work


def test_an_invalid_bucket_name_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, line, _ = run_cli(["convert", str(SAMPLE_CORPUS), "gs://Not_A_Bucket!/out"], capsys)
    assert code == 2
    assert "gs://Not_A_Bucket! is not a valid bucket name" in line


def test_examples_into_the_parent_of_its_input_exits_2_naming_both(
    gcs_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = storage.join(gcs_bucket, "seq")
    storage.write_bytes(storage.join(source, "notesequences-00000-of-00001.tfrecord"), b"")
    code, line, _ = run_cli(["examples", source, gcs_bucket], capsys)
    assert code == 2
    assert line == (
        f"musicgen examples: error: examples: the input {source} is the output {gcs_bucket} or "
        "inside it; pick an output folder that does not contain the input"
    )
    assert [i.uri for i in storage.list_files(gcs_bucket)] == [
        storage.join(source, "notesequences-00000-of-00001.tfrecord")
    ]


def test_convert_into_its_own_corpus_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.mid").write_bytes((SAMPLE_CORPUS / "pop909" / "033.mid").read_bytes())
    code, line, _ = run_cli(["convert", str(corpus), str(corpus / "seq")], capsys)
    assert code == 2
    assert f"the output {corpus / 'seq'} is the input {corpus} or inside it" in line
    assert sorted(p.name for p in corpus.iterdir()) == ["a.mid"]


def test_listing_a_missing_bucket_is_never_an_empty_folder() -> None:
    cfg = GenerateConfig(run="runs/x", output=MISSING, num_samples=1)
    with pytest.raises(BucketNotFound):
        _existing(f"{MISSING}/generated/m/2024-01-01/b1", cfg, "b1", None, "pianoroll_lstm")
    with pytest.raises(BucketNotFound):
        list_checkpoints(f"{MISSING}/runs/x/checkpoints")
    with pytest.raises(BucketNotFound):
        find_sequence_shards(f"{MISSING}/seq")
    with pytest.raises(BucketNotFound):
        remove_stale_shards(f"{MISSING}/ex", set(), ("train", "eval"))
    with pytest.raises(BucketNotFound):
        list(storage.list_files(f"{MISSING}/p"))


def test_existing_pieces_propagate_a_listing_failure(gcs_bucket: str, tmp_path: Path) -> None:
    cfg = GenerateConfig(run="runs/x", output=gcs_bucket, num_samples=1)
    # A real listing failure (the emulator answers 404 for the bucket) is not a new batch.
    gone = storage.join(MISSING, "generated", "m", "2024-01-01", "b1")
    with pytest.raises(BucketNotFound, match=MISSING):
        _existing(gone, cfg, "b1", None, "pianoroll_lstm")
    # A prefix, or a local folder, with nothing there yet is.
    fresh = storage.join(gcs_bucket, "generated", "m", "2024-01-01", "b1")
    assert _existing(fresh, cfg, "b1", None, "pianoroll_lstm") == {}
    assert _existing(str(tmp_path / "no-such-folder"), cfg, "b1", None, "pianoroll_lstm") == {}
