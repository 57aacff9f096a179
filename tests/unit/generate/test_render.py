"""Piano-roll PNGs and fluidsynth WAVs of real MIDI; and clear errors when tools are missing."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from note_seq.protobuf.music_pb2 import NoteSequence

from musicgen.corpus.reference import midi_to_note_sequence
from musicgen.generate import render
from tests.conftest import in_testdata


def _midi() -> bytes:
    return in_testdata("datasets", "midi", "pop909", "midi", "001.mid").read_bytes()


def _luminance(png: Path) -> np.ndarray:
    from matplotlib.image import imread

    rgb = imread(png)[..., :3]
    return rgb @ np.array([0.299, 0.587, 0.114])


def test_png_marks_notes_where_they_are(tmp_path: Path) -> None:
    ns = NoteSequence()
    ns.notes.add(pitch=60, velocity=100, start_time=1.0, end_time=3.0)
    ns.notes.add(pitch=72, velocity=40, start_time=4.0, end_time=6.0, instrument=1)
    ns.notes.add(pitch=38, velocity=90, start_time=2.0, end_time=2.1, is_drum=True)
    ns.total_time = 6.0
    out = tmp_path / "roll.png"
    image = render.render_png(ns, out, title="two notes and a snare")
    lum = _luminance(out)
    assert lum.shape == (image.height, image.width) == (600, 1200)
    for t, p in ((2.0, 60), (5.0, 72)):
        x, y = image.pixel(t, p)
        assert lum[y, x] < 0.7, (t, p)
    for t, p in ((2.0, 66), (5.0, 60), (0.5, 72), (3.5, 60)):  # nowhere near a note
        x, y = image.pixel(t, p)
        assert lum[y, x] > 0.95, (t, p)
    x, y = image.pixel(2.0, 38)  # the drum hit's x mark is red
    assert lum[y, x] < 0.8
    assert (image.notes, image.drums) == (2, 1)
    by_instrument = render.render_png(ns, tmp_path / "inst.png", color_by="instrument")
    assert by_instrument.notes == 2


def test_png_of_real_midi(tmp_path: Path) -> None:
    data = _midi()
    out = tmp_path / "001.png"
    image = render.render_png(data, out, title="POP909 001")
    lum = _luminance(out)
    assert lum.shape == (600, 1200)
    assert lum.var() > 0.005  # not blank
    notes = [n for n in midi_to_note_sequence(data).notes if not n.is_drum]
    centres = [image.pixel((n.start_time + n.end_time) / 2, n.pitch) for n in notes]
    dark = np.mean([lum[y, x] < 0.85 for x, y in centres])
    assert dark > 0.95, dark
    left, top, right, bottom = (round(v) for v in image.axes)
    plot = lum[top + 2 : bottom - 2, left + 2 : right - 2]
    assert 0.01 < (plot < 0.85).mean() < 0.5  # notes, but mostly background


def test_wav_of_real_midi(tmp_path: Path) -> None:
    import mido

    path = in_testdata("datasets", "midi", "pop909", "midi", "001.mid")
    out = tmp_path / "001.wav"
    info = render.render_wav(path, out, sample_rate=22050)
    assert out.read_bytes()[:4] == b"RIFF"
    assert out.read_bytes()[8:12] == b"WAVE"
    with wave.open(str(out), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (22050, 2, 2)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float64)
        duration = wav.getnframes() / wav.getframerate()
    assert info.duration_s == pytest.approx(duration)
    assert duration == pytest.approx(mido.MidiFile(path).length, abs=2.0)
    assert np.sqrt(np.mean(samples**2)) > 100  # not silence (16-bit full scale is 32767)


def test_missing_fluidsynth_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        render.RenderError, match=r"fluidsynth not found.*apt-get install fluidsynth"
    ):
        render.render_wav(b"MThd", tmp_path / "x.wav")
    assert not (tmp_path / "x.wav").exists()


def test_missing_soundfont_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "none.sf2"
    monkeypatch.setenv(render.SOUNDFONT_ENV, str(missing))
    with pytest.raises(render.RenderError, match=f"soundfont not found: {missing}"):
        render.find_soundfont()
    monkeypatch.delenv(render.SOUNDFONT_ENV)
    with pytest.raises(render.RenderError, match=r"no General MIDI soundfont.*timgm6mb-soundfont"):
        render.find_soundfont(candidates=(str(missing),))


def test_unreadable_midi_is_a_render_error(tmp_path: Path) -> None:
    with pytest.raises(render.RenderError, match="fluidsynth made no audio"):
        render.render_wav(b"not a midi file", tmp_path / "x.wav")
    with pytest.raises(render.RenderError, match="cannot read the MIDI"):
        render.render_png(b"not a midi file", tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


def test_ogg_of_a_rendered_wav_is_small_reproducible_vorbis(tmp_path: Path) -> None:
    path = in_testdata("datasets", "midi", "pop909", "midi", "001.mid")
    wav = tmp_path / "001.wav"
    render.render_wav(path, wav, sample_rate=22050)
    first, second = tmp_path / "a.ogg", tmp_path / "b.ogg"
    render.encode_ogg(wav, first)
    render.encode_ogg(wav, second)
    data = first.read_bytes()
    assert data[:4] == b"OggS"
    assert b"\x01vorbis" in data[:64]
    assert data == second.read_bytes()  # a fixed stream serial: re-runs rewrite the same bytes
    assert len(data) < wav.stat().st_size / 5


def test_missing_oggenc_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(render.RenderError, match=r"oggenc not found.*apt-get install vorbis-tools"):
        render.encode_ogg(tmp_path / "x.wav", tmp_path / "x.ogg")
    assert not (tmp_path / "x.ogg").exists()
