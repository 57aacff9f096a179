"""The batch review's audio: Ogg Vorbis beside each rendered WAV, the WAV where oggenc is
missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from musicgen.generate.manifest import ManifestRow
from musicgen.generate.review import piece_media


def _row() -> ManifestRow:
    return ManifestRow(sample_id="b-00000", index=0, seed=0, settings={}, uri="b-00000.mid",
                       size=1, sha256="0" * 64, metrics={})  # fmt: skip


def test_without_oggenc_the_page_plays_the_wav(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "renders").mkdir()
    (tmp_path / "renders" / "b-00000.wav").write_bytes(b"RIFF....WAVE")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    (media,) = piece_media(str(tmp_path), [_row()])
    assert media.audio == "renders/b-00000.wav"
    assert media.audio_type == "audio/wav"
    assert media.image is None  # not rendered: no image to show
    assert not (tmp_path / "renders" / "b-00000.ogg").exists()


def test_a_piece_without_a_wav_has_no_player(tmp_path: Path) -> None:
    (media,) = piece_media(str(tmp_path), [_row()])
    assert media.audio is None
