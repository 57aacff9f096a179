"""Folders are folders: `x/ex` never holds `x/ex2`, and a job's output never overlaps its input."""

from __future__ import annotations

from pathlib import Path

import pytest

from musicgen import storage
from musicgen.errors import EXIT_CONFIG, ConfigError
from musicgen.storage.uri import is_within


@pytest.mark.parametrize(
    ("inner", "outer", "expected"),
    [
        ("gs://b/ex", "gs://b/ex", True),
        ("gs://b/ex/", "gs://b/ex", True),
        ("gs://b/ex/train/x.tfrecord", "gs://b/ex/", True),
        ("gs://b/ex2", "gs://b/ex", False),
        ("gs://b/ex2/train/x.tfrecord", "gs://b/ex", False),
        ("gs://b/ex.json", "gs://b/ex", False),
        ("gs://b/ex", "gs://b/ex/train", False),
        ("gs://b/anything/deep", "gs://b", True),
        ("gs://b", "gs://b/", True),
        ("gs://b", "gs://b/ex", False),
        ("gs://b2/ex", "gs://b", False),
        ("gs://b/ex", "gs://c/ex", False),
        ("/a/ex", "/a/ex", True),
        ("/a/ex/", "/a/ex", True),
        ("/a/ex/ds1/train", "/a/ex", True),
        ("/a/ex/../ex/x", "/a/ex", True),
        ("/a/ex2", "/a/ex", False),
        ("/a/ex2/x", "/a/ex/", False),
        ("/a", "/a/ex", False),
        ("/a/ex", "gs://a/ex", False),
        ("gs://a/ex", "/a/ex", False),
    ],
)
def test_is_within_compares_folders(inner: str, outer: str, expected: bool) -> None:
    assert is_within(inner, outer) is expected


def test_is_within_makes_relative_paths_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert is_within("seq/out", tmp_path / "seq")
    assert not is_within("seq2", str(tmp_path / "seq"))


@pytest.mark.parametrize(
    ("source", "target", "which"),
    [
        ("gs://probe/seq", "gs://probe/seq", "output"),
        ("gs://probe/seq", "gs://probe/seq/ex", "output"),
        ("gs://probe/seq", "gs://probe", "input"),
        ("gs://probe/seq/x.tfrecord", "gs://probe/seq", "input"),
    ],
)
def test_overlapping_gcs_paths_are_refused_naming_both(
    source: str, target: str, which: str
) -> None:
    # Refused before any request: no emulator and no credentials are needed to say this.
    with pytest.raises(ConfigError) as info:
        storage.check_job_paths(source, target, what="examples")
    message = str(info.value)
    assert message.startswith(f"examples: the {which} ")
    assert source in message
    assert target in message
    assert info.value.exit_code == EXIT_CONFIG


def test_overlapping_local_paths_are_refused(tmp_path: Path) -> None:
    seq = tmp_path / "seq"
    for source, target in [(seq, seq), (seq, seq / "ex"), (seq / "ex", seq), (seq, tmp_path)]:
        with pytest.raises(ConfigError, match="or inside it"):
            storage.check_job_paths(source, target, what="convert")


def test_an_output_reached_through_a_link_into_the_input_is_refused(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (tmp_path / "link").symlink_to(corpus)
    with pytest.raises(ConfigError, match=r"is the input .* or inside it"):
        storage.check_job_paths(corpus, tmp_path / "link" / "out", what="convert")


def test_siblings_sharing_a_name_prefix_are_disjoint(tmp_path: Path) -> None:
    storage.check_job_paths(tmp_path / "ex", tmp_path / "ex2", what="examples")
    storage.check_job_paths(tmp_path / "ex2", tmp_path / "ex", what="examples")
    storage.check_job_paths(tmp_path / "seq" / "a.tfrecord", tmp_path / "seq2", what="examples")


def test_local_listing_of_a_folder_never_reaches_a_sibling_with_the_same_prefix(
    tmp_path: Path,
) -> None:
    for rel in ["ex/a.bin", "ex/sub/b.bin", "ex2/c.bin", "ex.bin", "ex-x/d.bin"]:
        storage.write_bytes(str(tmp_path / rel), b"x")
    for base in (str(tmp_path / "ex"), str(tmp_path / "ex") + "/"):
        listed = [storage.relative_to(i.uri, tmp_path) for i in storage.list_files(base)]
        assert listed == ["ex/a.bin", "ex/sub/b.bin"]
    top = [storage.basename(i.uri) for i in storage.list_files(tmp_path / "ex", recursive=False)]
    assert top == ["a.bin"]


@pytest.mark.parametrize("bad", ["gs://", "gs:///seq"])
def test_a_gcs_uri_without_a_bucket_is_a_config_error(bad: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="without a bucket"):
        storage.check_job_paths(bad, tmp_path / "out", what="convert")
    with pytest.raises(ConfigError, match="without a bucket"):
        storage.check_job_paths(tmp_path / "in", bad, what="convert")
