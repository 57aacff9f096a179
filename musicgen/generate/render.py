"""Looking and listening: a piano-roll PNG (matplotlib, Agg), a WAV (fluidsynth + GM soundfont)
and its Ogg Vorbis (oggenc), 20 times smaller, for pages that play it.

Both write to local paths or gs:// through the storage layer. matplotlib is imported inside the
functions so importing this module stays light; fluidsynth and the soundfont are found at call
time, and their absence is an error that says what to install.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from musicgen import storage
from musicgen.errors import MusicgenError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from note_seq.protobuf.music_pb2 import NoteSequence

SOUNDFONT_ENV = "MUSICGEN_SOUNDFONT"
SOUNDFONT_CANDIDATES = tuple(
    f"/usr/share/sounds/sf2/{name}.sf2" for name in ("default-GM", "TimGM6mb", "FluidR3_GM")
)
INSTALL_HINT = "apt-get install fluidsynth timgm6mb-soundfont"
OGG_INSTALL_HINT = "apt-get install vorbis-tools"
OGG_SERIAL = 1  # oggenc draws a random stream serial: a fixed one makes the bytes reproducible
_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


class RenderError(MusicgenError):
    """A PNG or WAV could not be made; says what is missing or what the renderer said."""


@dataclass(frozen=True)
class PianoRollImage:
    """Where a rendered piano roll put things, so tests and callers can find notes in pixels.

    Attributes:
        width: Image width in pixels.
        height: Image height in pixels.
        axes: The plot area as (left, top, right, bottom) pixels, origin top-left.
        time_range: Seconds at the left and right edges of the plot area.
        pitch_range: MIDI pitches at the bottom and top edges of the plot area.
        notes: Pitched notes drawn.
        drums: Drum hits marked.
    """

    width: int
    height: int
    axes: tuple[float, float, float, float]
    time_range: tuple[float, float]
    pitch_range: tuple[float, float]
    notes: int
    drums: int

    def pixel(self, time: float, pitch: float) -> tuple[int, int]:
        """The (x, y) pixel of a time and pitch (y counted from the top)."""
        left, top, right, bottom = self.axes
        (t0, t1), (p0, p1) = self.time_range, self.pitch_range
        x = left + (time - t0) / (t1 - t0) * (right - left)
        y = bottom - (pitch - p0) / (p1 - p0) * (bottom - top)
        return round(x), round(y)


def note_name(pitch: int) -> str:
    """Scientific pitch name, MIDI 60 = C4."""
    return f"{_NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _as_sequence(source: NoteSequence | bytes) -> NoteSequence:
    if isinstance(source, bytes | bytearray):
        from musicgen.corpus.reference import ReferenceConversionError, midi_to_note_sequence

        try:
            return midi_to_note_sequence(bytes(source))
        except ReferenceConversionError as exc:
            raise RenderError(f"cannot read the MIDI to render: {exc}") from exc
    return source


def render_png(
    ns_or_midi_bytes: NoteSequence | bytes,
    path: storage.UriLike,
    *,
    title: str | None = None,
    color_by: Literal["velocity", "instrument"] = "velocity",
    size: tuple[float, float] = (12.0, 6.0),
    dpi: int = 100,
) -> PianoRollImage:
    """Draws a piano roll: seconds across, pitch up, one rectangle per note, drums as x marks.

    Args:
        ns_or_midi_bytes: A NoteSequence or Standard MIDI File bytes.
        path: Where the PNG goes (local or gs://).
        title: Shown above the plot.
        color_by: Colour notes by velocity (darker = louder) or by instrument.
        size: Figure size in inches.
        dpi: Pixels per inch (the image is ``size * dpi`` pixels).

    Returns:
        Where things landed in the image.

    Raises:
        RenderError: If MIDI bytes cannot be read.
        StorageError: If the PNG cannot be written.
    """
    # An explicit Agg canvas and no pyplot: no display, no global backend switch, no figure
    # registry to leak into when a generation actor renders thousands of samples.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ns = _as_sequence(ns_or_midi_bytes)
    pitched = [n for n in ns.notes if not n.is_drum]
    drums = [n for n in ns.notes if n.is_drum]
    end = max([ns.total_time, *(n.end_time for n in ns.notes), 1.0])
    pitches = [n.pitch for n in ns.notes] or [60]
    p0, p1 = min(pitches) - 2.5, max(pitches) + 2.5
    t0, t1 = 0.0, end * 1.01

    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_facecolor("white")
    for pitch in range(int(p0) + 1, int(p1) + 1):
        if pitch % 12 == 0:
            ax.axhline(pitch - 0.5, color="#dddddd", linewidth=0.6, zorder=0)
    if drums:
        _draw_drums(ax, drums)
    ticks = [p for p in range(int(p0) + 1, int(p1) + 1) if p % 12 == 0]
    ax.set_yticks(ticks, [note_name(p) for p in ticks])
    ax.set_xlim(t0, t1)
    ax.set_ylim(p0, p1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("pitch")
    ax.set_title(title or "", fontsize="medium", loc="left")
    fig.tight_layout()  # before drawing notes: the layout fixes the seconds-per-pixel scale
    if pitched:
        # Short notes in a long piece would be thinner than a pixel and vanish in antialiasing.
        min_width = 1.5 * (t1 - t0) / max(ax.get_window_extent().width, 1.0)
        _draw_notes(ax, pitched, color_by, min_width)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    width, height = (round(v) for v in fig.get_size_inches() * dpi)
    box = ax.get_window_extent()  # display coords: origin bottom-left
    axes = (float(box.x0), float(height - box.y1), float(box.x1), float(height - box.y0))
    storage.write_bytes(path, buffer.getvalue())
    return PianoRollImage(width, height, axes, (t0, t1), (p0, p1), len(pitched), len(drums))


def _draw_notes(ax: Axes, notes: list[NoteSequence.Note], color_by: str, min_width: float) -> None:
    """One rectangle per note in a single collection (fast for thousands of notes)."""
    from matplotlib import colormaps
    from matplotlib.collections import PolyCollection

    boxes = []
    for n in notes:
        end = max(n.end_time, n.start_time + min_width)
        low, high = n.pitch - 0.4, n.pitch + 0.4
        boxes.append([(n.start_time, low), (end, low), (end, high), (n.start_time, high)])
    if color_by == "velocity":  # darker = louder; the softest note is still clearly visible
        blues = colormaps["Blues"]
        colors = [blues(0.45 + 0.55 * n.velocity / 127) for n in notes]
    else:
        tab10 = colormaps["tab10"]
        colors = [tab10(n.instrument % 10) for n in notes]
    ax.add_collection(PolyCollection(boxes, facecolors=colors, edgecolors="none", zorder=2))


def _draw_drums(ax: Axes, drums: list[NoteSequence.Note]) -> None:
    """Drum hits as red x marks at their key's pitch (they have no duration worth drawing)."""
    ax.scatter(
        [n.start_time for n in drums],
        [n.pitch for n in drums],
        marker="x",
        s=12,
        linewidths=0.8,
        color="#c0392b",
        label="drums",
        zorder=3,
    )
    # Above the plot, so the key never hides a note.
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)


def find_soundfont(
    soundfont: storage.UriLike | None = None, candidates: Sequence[str] = SOUNDFONT_CANDIDATES
) -> Path:
    """The General MIDI soundfont to use: the argument, else $MUSICGEN_SOUNDFONT, else the first
    installed of ``candidates`` (Debian's paths).

    Raises:
        RenderError: If the named soundfont does not exist, or none is installed.
    """
    for origin, value in (("soundfont", soundfont), (SOUNDFONT_ENV, os.environ.get(SOUNDFONT_ENV))):
        if value:
            path = Path(os.fspath(value))
            if not path.is_file():
                raise RenderError(f"soundfont not found: {path} (from {origin})")
            return path
    for candidate in candidates:
        if Path(candidate).is_file():
            return Path(candidate)
    raise RenderError(
        f"no General MIDI soundfont found (looked in ${SOUNDFONT_ENV}, "
        f"{', '.join(candidates)}): {INSTALL_HINT}"
    )


def find_fluidsynth() -> str:
    """The ``fluidsynth`` executable on PATH.

    Raises:
        RenderError: If it is not installed.
    """
    found = shutil.which("fluidsynth")
    if not found:
        raise RenderError(f"fluidsynth not found on PATH: {INSTALL_HINT}")
    return found


@dataclass(frozen=True)
class WavInfo:
    """What a rendered WAV holds."""

    sample_rate: int
    channels: int
    frames: int

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate


def render_wav(
    midi_bytes_or_path: bytes | storage.UriLike,
    path: storage.UriLike,
    *,
    soundfont: storage.UriLike | None = None,
    sample_rate: int = 44100,
    trim_silence: bool = True,
    timeout_s: float = 600.0,
) -> WavInfo:
    """Synthesizes a MIDI file to WAV with ``fluidsynth -ni -F out.wav -r RATE SOUNDFONT in.mid``.

    Args:
        midi_bytes_or_path: MIDI bytes, or a local/gs:// path to a MIDI file.
        path: Where the WAV goes (local or gs://).
        soundfont: A .sf2 file; default: see :func:`find_soundfont`.
        sample_rate: Output sample rate in Hz.
        trim_silence: Cut the digital silence fluidsynth appends after the last release
            (it keeps rendering about 3 s past the MIDI's end); the decay itself stays.
        timeout_s: Give up on fluidsynth after this long.

    Returns:
        The WAV's rate, channels and length.

    Raises:
        RenderError: If fluidsynth or a soundfont is missing, or fluidsynth fails.
        StorageError: If the MIDI cannot be read or the WAV cannot be written.
    """
    executable, font = find_fluidsynth(), find_soundfont(soundfont)
    if isinstance(midi_bytes_or_path, bytes | bytearray):
        midi, what = bytes(midi_bytes_or_path), "MIDI bytes"
    else:
        what = os.fspath(midi_bytes_or_path)
        midi = storage.read_bytes(what)
    with tempfile.TemporaryDirectory(prefix="musicgen-wav-") as tmp:
        midi_path, wav_path = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        midi_path.write_bytes(midi)
        command = [executable, "-ni", "-F", str(wav_path), "-r", str(sample_rate)]
        command += [str(font), str(midi_path)]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise RenderError(f"fluidsynth took over {timeout_s:.0f} s on {what}") from exc
        if done.returncode != 0 or not wav_path.is_file() or wav_path.stat().st_size <= 44:
            output = (done.stderr + done.stdout).strip()[-2000:]
            raise RenderError(
                f"fluidsynth made no audio from {what} (exit {done.returncode}): {output}"
            )
        if trim_silence:
            _trim_trailing_silence(wav_path)
        with wave.open(str(wav_path), "rb") as wav:
            info = WavInfo(wav.getframerate(), wav.getnchannels(), wav.getnframes())
        storage.upload_file(str(wav_path), path)
    return info


def _trim_trailing_silence(wav_path: Path, threshold: int = 2, margin_s: float = 0.1) -> None:
    """Rewrites a 16-bit WAV without the samples after its last one louder than ``threshold``."""
    import numpy as np

    with wave.open(str(wav_path), "rb") as wav:
        params = wav.getparams()
        if params.sampwidth != 2 or not params.nframes:
            return
        samples = np.frombuffer(wav.readframes(params.nframes), "<i2")
    peaks = np.abs(samples.reshape(-1, params.nchannels).astype(np.int32)).max(axis=1)
    loud = np.flatnonzero(peaks > threshold)
    keep = min(
        params.nframes, (int(loud[-1]) + 1 if len(loud) else 0) + int(margin_s * params.framerate)
    )
    if keep == params.nframes:
        return
    with wave.open(str(wav_path), "wb") as wav:
        wav.setparams(params)
        wav.writeframes(samples[: keep * params.nchannels].tobytes())


def find_oggenc() -> str:
    """The ``oggenc`` executable on PATH.

    Raises:
        RenderError: If it is not installed.
    """
    found = shutil.which("oggenc")
    if not found:
        raise RenderError(f"oggenc not found on PATH: {OGG_INSTALL_HINT}")
    return found


def encode_ogg(
    wav: storage.UriLike, path: storage.UriLike, *, quality: int = 3, timeout_s: float = 600.0
) -> None:
    """Encodes a WAV (local or gs://) as Ogg Vorbis at ``path`` (local or gs://).

    The same WAV always gives the same bytes (a fixed stream serial), so a re-run rewrites an
    identical file.

    Args:
        wav: The WAV to encode.
        path: Where the .ogg goes.
        quality: oggenc's -q (3: about 110 kbit/s stereo, plenty for a GM soundfont).
        timeout_s: Give up on oggenc after this long.

    Raises:
        RenderError: If oggenc is missing or fails.
        StorageError: If the WAV cannot be read or the .ogg cannot be written.
    """
    executable = find_oggenc()
    with tempfile.TemporaryDirectory(prefix="musicgen-ogg-") as tmp:
        wav_path, ogg_path = Path(tmp) / "in.wav", Path(tmp) / "out.ogg"
        wav_path.write_bytes(storage.read_bytes(wav))
        command = [executable, "-Q", "-q", str(quality), "--serial", str(OGG_SERIAL)]
        command += ["-o", str(ogg_path), str(wav_path)]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise RenderError(f"oggenc took over {timeout_s:.0f} s on {wav}") from exc
        if done.returncode != 0 or not ogg_path.is_file():
            output = (done.stderr + done.stdout).strip()[-2000:]
            raise RenderError(f"oggenc failed on {wav} (exit {done.returncode}): {output}")
        storage.upload_file(str(ogg_path), path)
