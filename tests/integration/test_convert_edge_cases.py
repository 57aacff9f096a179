"""Every broken or odd file is recorded with a reason, and the counts add up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from musicgen.config import ConvertConfig
from musicgen.corpus.pipeline import convert_corpus
from musicgen.storage import layout

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]

# note-seq's verdict on each file (tests/testdata/datasets/midi/edge-cases/README.md), None =
# converted; for the two files players read, the reason names the cause, not mido's error.
EXPECTED = {
    "jazzsoft__test-empty-file.mid": "empty_file",
    "jazzsoft__test-corrupt-file-missing-byte.mid": "truncated",
    "jazzsoft__test-corrupt-file-extra-byte.mid": None,
    "jazzsoft__test-illegal-message-all.mid": "undefined_status_byte",
    "jazzsoft__test-non-midi-track.mid": "unknown_chunk",
    "jazzsoft__test-running-status-sysex.mid": "running_status_across_sysex",
    "jazzsoft__test-2-tracks-type-2.mid": None,
    "note_seq__example_event_order.mid": None,
    "symusic__Issue104_Bizarre_Love_Triangle2.mid": "data_byte_out_of_range",
    "symusic__ValueError_Control168.mid": "data_byte_out_of_range",
}


@pytest.mark.parametrize("parser", ["fast", "note_seq"])
def test_every_edge_case_is_accounted_for(
    edge_cases_dir: Path, tmp_path: Path, parser: str
) -> None:
    out = tmp_path / "out"
    report = convert_corpus(
        ConvertConfig(input=str(edge_cases_dir), output=str(out), parser=parser)
    )
    stats = json.loads((out / layout.STATS).read_text())
    assert stats["inputs"] == len(EXPECTED) == 10
    assert stats["inputs"] == stats["converted"] + stats["failed"] + stats["skipped"]
    assert stats["ignored_files"] == {".md": 1}  # the folder's README
    rows = [json.loads(line) for line in (out / layout.FAILURES).read_text().splitlines()]
    failed = {row["relpath"]: row for row in rows}
    assert len(failed) == stats["failed"] == report.stats.failed
    for name, reason in EXPECTED.items():
        if reason is None:
            assert name not in failed, f"{name} should convert: {failed.get(name)}"
        else:
            assert failed[name]["reason"] == reason, name
            assert failed[name]["message"], name
            assert failed[name]["uri"].endswith(name)


def test_lenient_recovers_the_files_players_read_and_counts_them(
    edge_cases_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    cfg = ConvertConfig(input=str(edge_cases_dir), output=str(out), lenient=True)
    report = convert_corpus(cfg)
    stats = json.loads((out / layout.STATS).read_text())
    recoverable = {
        n for n, r in EXPECTED.items() if r in ("unknown_chunk", "running_status_across_sysex")
    }
    strict_converted = sum(r is None for r in EXPECTED.values())
    assert stats["recovered"] == report.stats.recovered == len(recoverable) == 2
    assert stats["converted"] == strict_converted + 2
    assert stats["inputs"] == stats["converted"] + stats["failed"] + stats["skipped"]
    rows = [json.loads(line) for line in (out / layout.FAILURES).read_text().splitlines()]
    recovered = {r["relpath"]: r for r in rows if r["outcome"] == "converted"}
    assert set(recovered) == recoverable
    assert all(r["message"].startswith("recovered (--lenient)") for r in recovered.values())
    assert "2 of them recovered by --lenient" in report.summary()
