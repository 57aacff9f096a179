"""The last step of a batch before its commit mark: judge it against the corpus and write the
page people read.

:func:`review_batch` adds two sections to the report: ``corpus_comparison`` (Yang & Lerch's
protocol against held-out pieces, see ``corpus_compare``) and ``report_html`` (the page and
every file it shows, each with its sha256, so ``pull`` can copy and verify them). It writes the
Ogg Vorbis of each rendered WAV, the feature plots and ``report.html``. Everything is a function
of the pieces' MIDI bytes and the run's dataset: a re-run writes the same bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from musicgen import storage
from musicgen.generate.corpus_compare import Comparison, compare
from musicgen.generate.manifest import ManifestRow, sha256_hex
from musicgen.generate.report_html import PieceMedia, build_html, plots_of
from musicgen.storage import layout

log = logging.getLogger(__name__)


def corpus_comparison(
    run: Any, prefix: str, rows: Sequence[ManifestRow], max_records: int
) -> tuple[Comparison | None, dict[str, Any]]:
    """The comparison of the batch's first ``max_records`` pieces (by index) with as many
    held-out pieces, and its report section (``{"skipped": why}`` when there is none)."""
    from musicgen.generate.heldout import heldout_sequences
    from musicgen.generate.quality import parse_midi

    corpus, why = heldout_sequences(run, max_records)
    if not corpus:
        return None, {"skipped": why}
    batch = []
    for row in rows[:max_records]:
        try:
            batch.append(parse_midi(storage.read_bytes(storage.join(prefix, row.uri))))
        except Exception as exc:  # noqa: BLE001 - the parser's own errors vary; name the piece
            log.warning("%s is left out of the corpus comparison: %s", row.uri, exc)
    comparison = compare(corpus, batch)
    return comparison, comparison.to_json()


def piece_media(prefix: str, rows: Sequence[ManifestRow]) -> list[PieceMedia]:
    """The renders of ``rows`` that exist (``batch.render_some`` wrote them), with an Ogg Vorbis
    made from each WAV; the WAV itself where oggenc is missing or fails."""
    from musicgen.generate.render import RenderError, encode_ogg

    out = []
    for row in rows:
        image = layout.render_name(row.sample_id, ".png")
        wav = layout.render_name(row.sample_id, ".wav")
        audio: str | None = None
        if storage.exists(storage.join(prefix, wav)):
            ogg = layout.render_name(row.sample_id, ".ogg")
            try:
                encode_ogg(storage.join(prefix, wav), storage.join(prefix, ogg))
                audio = ogg
            except RenderError as exc:
                log.warning("the page plays the WAV of %s: %s", row.sample_id, exc)
                audio = wav
        has_image = storage.exists(storage.join(prefix, image))
        out.append(PieceMedia(row, image if has_image else None, audio))
    return out


def review_batch(
    prefix: str,
    run: Any,
    rows: Sequence[ManifestRow],
    report: dict[str, Any],
    *,
    render: int,
    compare_records: int,
) -> dict[str, Any]:
    """Writes the plots, audio and ``report.html`` of a batch; returns the report with its
    ``corpus_comparison`` and ``report_html`` sections.

    Args:
        prefix: The batch prefix.
        run: The loaded run (its dataset holds the held-out pieces).
        rows: Every piece's manifest row, by index.
        report: The report so far.
        render: How many pieces (the first) were rendered.
        compare_records: Held-out pieces to compare with, and batch pieces compared (0: off).

    Returns:
        The completed report, for ``write_report``.
    """
    comparison, section = corpus_comparison(run, prefix, rows, compare_records)
    report = {**report, "corpus_comparison": section}
    files: dict[str, str] = {}
    plots: dict[str, str] = {}
    for name, png in plots_of(comparison).items():
        plots[name] = layout.plot_name(name)
        storage.write_bytes(storage.join(prefix, plots[name]), png)
        files[plots[name]] = sha256_hex(png)
    media = piece_media(prefix, rows[:render])
    for piece in media:
        for path in (piece.image, piece.audio):
            if path:
                files[path] = sha256_hex(storage.read_bytes(storage.join(prefix, path)))
    page = build_html(report, rows, media, plots).encode("utf-8")
    storage.write_bytes(storage.join(prefix, layout.REPORT_HTML), page)
    report["report_html"] = {
        "page": layout.REPORT_HTML,
        "sha256": sha256_hex(page),
        "files": dict(sorted(files.items())),
    }
    return report
