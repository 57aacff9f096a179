"""URI helpers: joining, names and relative paths for local paths and gs:// (pure, no I/O)."""

from __future__ import annotations

from pathlib import Path

import pytest

from musicgen import storage
from musicgen.storage.uri import folder_prefix, is_temp_name, split_gcs, temp_name

AWKWARD = [
    "ü€ö é.mid",
    "with space.mid",
    "$HOME.mid",
    "it's.mid",
    "a&b;c.mid",
    "#1?.mid",
    "%41+.mid",
]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("gs://b/k", True),
        ("gs://b", True),
        ("/data/x.mid", False),
        ("relative/x.mid", False),
        ("gs:/b/k", False),
        ("GS://b/k", False),
        ("s3://b/k", False),
        ("", False),
    ],
)
def test_is_gcs(uri: str, expected: bool) -> None:
    assert storage.is_gcs(uri) is expected


def test_is_gcs_accepts_paths() -> None:
    assert storage.is_gcs(Path("gs:/b")) is False


@pytest.mark.parametrize(
    ("base", "parts", "expected"),
    [
        ("gs://b", ("a", "x.mid"), "gs://b/a/x.mid"),
        ("gs://b/", ("a/", "/x.mid"), "gs://b/a/x.mid"),
        ("gs://b/p", ("", "a//b", "c"), "gs://b/p/a/b/c"),
        ("gs://b/p/", (), "gs://b/p/"),
        ("/data", ("a", "x.mid"), "/data/a/x.mid"),
        ("/data/", ("/a/", "x.mid"), "/data/a/x.mid"),
        ("/", ("a",), "/a"),
        ("", ("a", "b"), "a/b"),
        ("rel", ("a",), "rel/a"),
    ],
)
def test_join(base: str, parts: tuple[str, ...], expected: str) -> None:
    assert storage.join(base, *parts) == expected


def test_join_local_path_object_returns_str(tmp_path: Path) -> None:
    joined = storage.join(tmp_path, "a", "b.mid")
    assert isinstance(joined, str)
    assert joined == str(tmp_path / "a" / "b.mid")


@pytest.mark.parametrize("name", AWKWARD)
def test_join_keeps_awkward_names_verbatim(name: str) -> None:
    assert storage.join("gs://b/dir", name) == f"gs://b/dir/{name}"
    assert storage.join("/d", name) == f"/d/{name}"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("gs://b/a/x.mid", "x.mid"),
        ("gs://b/a/", "a"),
        ("gs://b/a", "a"),
        ("gs://b", "b"),
        ("gs://b/", "b"),
        ("/data/a/x.mid", "x.mid"),
        ("/data/a/", "a"),
        ("x.mid", "x.mid"),
        ("gs://b/d/#1?.mid", "#1?.mid"),
        ("gs://b/d/it's & $x;.mid", "it's & $x;.mid"),
    ],
)
def test_basename(uri: str, expected: str) -> None:
    assert storage.basename(uri) == expected


@pytest.mark.parametrize("name", AWKWARD)
def test_basename_awkward(name: str) -> None:
    assert storage.basename(f"gs://b/deep/{name}") == name
    assert storage.basename(f"/tmp/deep/{name}") == name


@pytest.mark.parametrize(
    ("uri", "base", "expected"),
    [
        ("gs://b/p/a/x.mid", "gs://b/p", "a/x.mid"),
        ("gs://b/p/a/x.mid", "gs://b/p/", "a/x.mid"),
        ("gs://b/x.mid", "gs://b", "x.mid"),
        ("gs://b/x.mid", "gs://b/", "x.mid"),
        ("gs://b/p", "gs://b/p/", "."),
        ("gs://b/p/ü €/#?.mid", "gs://b/p", "ü €/#?.mid"),
        ("/data/p/a/x.mid", "/data/p", "a/x.mid"),
        ("/data/p/a/x.mid", "/data/p/", "a/x.mid"),
        ("/data/p/./a/../x.mid", "/data/p", "x.mid"),
        ("/data/p", "/data/p", "."),
    ],
)
def test_relative_to(uri: str, base: str, expected: str) -> None:
    assert storage.relative_to(uri, base) == expected


def test_relative_to_relative_local_paths() -> None:
    assert storage.relative_to("corpus/a/x.mid", "corpus") == "a/x.mid"
    assert storage.relative_to(Path("corpus/a/x.mid"), Path("corpus")) == "a/x.mid"


@pytest.mark.parametrize(
    ("uri", "base"),
    [
        ("gs://b/p2/x.mid", "gs://b/p"),
        ("gs://other/p/x.mid", "gs://b/p"),
        ("gs://b/p/x.mid", "/b/p"),
        ("/b/p/x.mid", "gs://b/p"),
        ("/data/p2/x.mid", "/data/p"),
        ("/data/x.mid", "/data/p"),
    ],
)
def test_relative_to_rejects_outside(uri: str, base: str) -> None:
    with pytest.raises(ValueError, match="is not under"):
        storage.relative_to(uri, base)


def test_relative_to_round_trips_with_join() -> None:
    for name in AWKWARD:
        uri = storage.join("gs://b/base", "sub", name)
        assert storage.relative_to(uri, "gs://b/base") == f"sub/{name}"


def test_split_gcs_keeps_url_characters_in_key() -> None:
    assert split_gcs("gs://b/a/#x?y=1%20.mid") == ("b", "a/#x?y=1%20.mid")
    assert split_gcs("gs://b") == ("b", "")
    assert split_gcs("gs://b/p/") == ("b", "p/")


@pytest.mark.parametrize("bad", ["gs://", "gs:///key", "/local", "s3://b/k"])
def test_split_gcs_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="gs://"):
        split_gcs(bad)


@pytest.mark.parametrize(
    ("key", "expected"), [("", ""), ("p", "p/"), ("p/", "p/"), ("a/b//", "a/b/")]
)
def test_folder_prefix(key: str, expected: str) -> None:
    assert folder_prefix(key) == expected


def test_temp_names_are_recognised_and_bounded() -> None:
    token = "0123456789abcdef" * 2
    assert is_temp_name(temp_name("x.mid", token))
    assert is_temp_name(temp_name("ü €$'.mid", token))
    long_name = "é" * 200
    assert len(temp_name(long_name, token).encode()) < 255
    assert not is_temp_name("x.mid")
    assert not is_temp_name(".hidden.mid")
    assert not is_temp_name("x.musicgen-tmp-" + token)  # ours always start with a dot
