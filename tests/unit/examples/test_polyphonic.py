"""The B-L benchmark pickles load into rolls with the official split sizes."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from musicgen.errors import InputError
from musicgen.examples.polyphonic import load_polyphonic
from tests.conftest import in_testdata

# (pieces, frames) per split, from tests/testdata/datasets/polyphonic/README.md.
EXPECTED = {
    "JSB_Chorales": {"train": (229, 13_807), "valid": (76, 4_602), "test": (77, 4_725)},
    "Nottingham": {"train": (694, 176_561), "valid": (173, 45_513), "test": (170, 44_463)},
    "Piano-midi.de": {"train": (87, 75_911), "valid": (12, 8_540), "test": (25, 19_036)},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_split_sizes_and_values(name: str) -> None:
    data = load_polyphonic(in_testdata("datasets", "polyphonic", f"{name}.pickle"))
    assert sorted(data) == ["test", "train", "valid"]
    for split, (pieces, frames) in EXPECTED[name].items():
        rolls = data[split]
        assert len(rolls) == pieces
        assert sum(len(r) for r in rolls) == frames
        assert all(r.dtype == bool and r.ndim == 2 and r.shape[1] == 88 for r in rolls)


def test_jsb_contents_match_the_pickle() -> None:
    path = in_testdata("datasets", "polyphonic", "JSB_Chorales.pickle")
    with path.open("rb") as f:
        raw = pickle.load(f)  # noqa: S301 - the B-L benchmark file, checked by sha256 upstream
    data = load_polyphonic(path)
    for split in ("train", "valid", "test"):
        for roll, piece in zip(data[split], raw[split], strict=True):
            assert [list(np.flatnonzero(step) + 21) for step in roll] == [list(s) for s in piece]
    pitches = np.flatnonzero(np.concatenate(data["train"]).any(axis=0)) + 21
    assert (pitches.min(), pitches.max()) == (43, 96)  # README: train pitch range 43-96


def test_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "Nottingham.pickle"
    with pytest.raises(InputError, match=r"Nottingham\.pickle") as info:
        load_polyphonic(missing)
    assert info.value.reason == "not-found"


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"not a pickle", "plain pickle"),
        (pickle.dumps({"train": [], "valid": []}), "keys"),
        (pickle.dumps({"train": [[[60]]], "valid": [], "test": [[[20]]]}), "outside"),
        (pickle.dumps({"train": [5], "valid": [], "test": []}), "not a list"),
        (pickle.dumps({"train": [[[60.0]]], "valid": [], "test": []}), "int notes"),
        (pickle.dumps({"train": [[["60"]]], "valid": [], "test": []}), "int notes"),
        (pickle.dumps([[[60]]]), "keys"),
        (pickle.dumps({"train": [], "valid": [], "test": [[np.int64(60)]]}), "not allowed"),
    ],
)
def test_malformed_file_names_it(tmp_path: Path, payload: bytes, why: str) -> None:
    path = tmp_path / "JSB_Chorales.pickle"
    path.write_bytes(payload)
    with pytest.raises(InputError, match=r"JSB_Chorales\.pickle") as info:
        load_polyphonic(path)
    assert info.value.reason == "malformed"
    assert why in str(info.value)
