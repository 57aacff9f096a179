"""EncodingInfo: the encoding.json a reader needs, its hash and its version check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from musicgen import __version__
from musicgen.encodings.performance_configs import CONFIGS, get_config
from musicgen.errors import InputError
from musicgen.examples.encoding_info import (
    EncodingInfo,
    read_encoding_info,
    write_encoding_info,
)
from musicgen.storage import layout


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("fmt", ["compact", "magenta"])
def test_performance_info_round_trips(name: str, fmt: str) -> None:
    info = EncodingInfo.for_performance(name, fmt, 0.1)  # type: ignore[arg-type]
    config = get_config(name)
    assert info.family == "performance"
    assert info.input_size == config.input_size
    assert info.num_classes == config.num_classes
    assert info.steps_per_second == 100
    assert info.steps_per_quarter is None
    assert (info.min_pitch, info.num_pitches) == (0, 128)
    assert info.stretch_factors == (0.95, 0.975, 1.0, 1.025, 1.05)
    assert info.transpositions == tuple(range(-3, 4))
    assert info.splits == ("train", "eval")
    assert info.augmentation == "materialized"
    assert info.musicgen_version == __version__
    assert len(info.config_hash) == 16
    int(info.config_hash, 16)
    again = EncodingInfo.from_json(info.to_json(), "x/encoding.json")
    assert again == info
    assert again.performance_config is config


def test_note_encoding_lists_six_class_counts() -> None:
    info = EncodingInfo.for_performance("performance_with_dynamics_and_note_encoding")
    data = json.loads(info.to_json())
    assert data["num_classes"] == [13, 77, 128, 32, 25, 40]
    assert data["format_version"] == 1
    assert data["format"] == "compact"


def test_pianoroll_info() -> None:
    info = EncodingInfo.for_pianoroll(2, ("train", "valid", "test"))
    assert (info.name, info.family, info.format) == ("pianoroll", "pianoroll", "compact")
    assert (info.input_size, info.num_classes, info.min_pitch, info.num_pitches) == (88, 88, 21, 88)
    assert info.steps_per_quarter == 2
    assert info.steps_per_second is None
    assert EncodingInfo.from_json(info.to_json()) == info
    with pytest.raises(ValueError, match="not a performance"):
        _ = info.performance_config


def test_hash_tracks_the_encoding_not_the_software_version() -> None:
    a = EncodingInfo.for_performance("performance", "compact", 0.1)
    assert a.config_hash == EncodingInfo.for_performance("performance", "compact", 0.1).config_hash
    assert a.config_hash != EncodingInfo.for_performance("performance", "magenta", 0.1).config_hash
    assert a.config_hash != EncodingInfo.for_performance("performance", "compact", 0.2).config_hash
    assert a.config_hash != EncodingInfo.for_pianoroll(2).config_hash
    assert EncodingInfo.for_pianoroll(1).config_hash != EncodingInfo.for_pianoroll(2).config_hash
    data = json.loads(a.to_json())
    data["musicgen_version"] = "9.9.9"
    assert EncodingInfo.from_json(json.dumps(data)).config_hash == a.config_hash
    # ints and floats, lists and tuples normalise to one info
    b = EncodingInfo.for_performance("performance", "compact", 1)
    assert b == EncodingInfo.for_performance("performance", "compact", 1.0)


def _edited(info: EncodingInfo, **changes: object) -> str:
    data = json.loads(info.to_json())
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"format_version": 2}, "unsupported-version"),
        ({"format_version": None}, "unsupported-version"),
        ({"eval_ratio": 0.5}, "hash-mismatch"),
        ({"config_hash": "0" * 16}, "hash-mismatch"),
        ({"surprise": 1}, "malformed"),
        ({"family": "video"}, "malformed"),
        ({"format": "parquet"}, "malformed"),
    ],
)
def test_from_json_rejects_with_the_uri(changes: dict[str, object], reason: str) -> None:
    text = _edited(EncodingInfo.for_performance("performance"), **changes)
    with pytest.raises(InputError, match=r"gs://b/d/encoding\.json") as err:
        EncodingInfo.from_json(text, "gs://b/d/encoding.json")
    assert err.value.reason == reason
    assert err.value.uri == "gs://b/d/encoding.json"


def test_from_json_rejects_non_json_and_missing_fields() -> None:
    with pytest.raises(InputError, match="not JSON") as err:
        EncodingInfo.from_json("{", "here.json")
    assert err.value.reason == "malformed"
    data = json.loads(EncodingInfo.for_pianoroll(4).to_json())
    del data["splits"]
    with pytest.raises(InputError, match="missing \\['splits'\\]"):
        EncodingInfo.from_json(json.dumps(data), "here.json")
    with pytest.raises(InputError, match="JSON object"):
        EncodingInfo.from_json("[1]", "here.json")


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="splits"):
        EncodingInfo.for_pianoroll(2, ())
    with pytest.raises(ValueError, match="eval_ratio"):
        EncodingInfo.for_performance("performance", "compact", 1.5)


def test_write_and_read_beside_the_shards(tmp_path: Path) -> None:
    info = EncodingInfo.for_pianoroll(2)
    uri = write_encoding_info(str(tmp_path), info)
    assert Path(uri) == tmp_path / layout.ENCODING
    assert read_encoding_info(str(tmp_path)) == info


def test_import_is_light() -> None:
    code = (
        "import sys, musicgen.examples.encoding_info, musicgen.examples.compact_format, "
        "musicgen.examples.readers; print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
