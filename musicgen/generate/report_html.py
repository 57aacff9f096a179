"""``report.html``: a batch's report as one static page, for people.

The page needs no server and no network: CSS is inline, every link is relative to the page
(the MIDI objects, ``renders/`` and ``plots/`` beside it), so it reads the same straight from a
bucket, from a pulled folder or from disk. It shows the batch's settings, the corpus
comparison (a table and one plot per feature: generated against held-out feature values, and
the distance densities the protocol compares), the quality summary, the memorization check,
and per rendered piece its piano roll, an audio player and its metrics; then every piece's row.

Nothing on the page depends on when it was made (no timestamps), and the plots are drawn
deterministically, so a re-run that generates nothing rewrites the same bytes.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from musicgen.generate.corpus_compare import FEATURE_UNITS, Comparison, FeatureComparison
from musicgen.generate.manifest import ManifestRow

_PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_LENGTHS = ("1", "1/2", "1/4", "1/8", "1/16", "1/2.", "1/4.", "1/8.", "1/16.", "1/2t", "1/4t",
            "1/8t")  # fmt: skip
_CORPUS, _BATCH, _INTER = "#7f7f7f", "#1f77b4", "#d62728"


@dataclass(frozen=True)
class PieceMedia:
    """What the page shows of one rendered piece (paths relative to the page).

    Attributes:
        row: The piece's manifest row.
        image: Its piano-roll PNG, or ``None``.
        audio: Its audio file (Ogg Vorbis, or WAV where oggenc is missing), or ``None``.
    """

    row: ManifestRow
    image: str | None
    audio: str | None

    @property
    def audio_type(self) -> str:
        """The audio's MIME type for the ``<source>`` element."""
        return "audio/ogg" if (self.audio or "").endswith(".ogg") else "audio/wav"


def plot_feature(feature: FeatureComparison) -> bytes:
    """One feature's PNG: generated vs corpus values (left), the distance densities (right)."""
    # An explicit Agg canvas and no pyplot: no display, no global state (as render.py).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.0, 3.0), dpi=80)
    FigureCanvasAgg(fig)
    values, densities = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    _plot_values(values, feature)
    _plot_densities(densities, feature)
    fig.tight_layout()
    buffer = io.BytesIO()
    # No "Software" stamp either: the bytes depend on the numbers, not on matplotlib's version.
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _plot_values(ax: Any, feature: FeatureComparison) -> None:
    corpus, batch = feature.corpus_values, feature.batch_values
    ax.set_title(f"{feature.name}: {FEATURE_UNITS[feature.name]}", fontsize="small", loc="left")
    if corpus.shape[-1] > 1 or batch.shape[-1] > 1:  # a histogram feature: mean share per class
        labels = _PITCH_CLASSES if feature.name == "pitch_class_histogram" else _LENGTHS
        x = np.arange(len(labels))
        for offset, data, color, label in ((-0.2, corpus, _CORPUS, "corpus (held-out)"),
                                           (0.2, batch, _BATCH, "generated")):  # fmt: skip
            if len(data):
                ax.bar(x + offset, data.mean(axis=0), width=0.4, color=color, label=label)
        ax.set_xticks(x, labels, fontsize="x-small")
        ax.set_ylabel("mean share", fontsize="small")
    else:
        both = np.concatenate([corpus.ravel(), batch.ravel()])
        if len(both):
            bins = np.histogram_bin_edges(both, bins=20)
            for data, color, label in ((corpus, _CORPUS, "corpus (held-out)"),
                                       (batch, _BATCH, "generated")):  # fmt: skip
                if len(data):
                    ax.hist(data.ravel(), bins=bins, density=True, alpha=0.55, color=color,
                            label=label)  # fmt: skip
        ax.set_ylabel("density", fontsize="small")
    ax.legend(fontsize="x-small", frameon=False)


def _plot_densities(ax: Any, feature: FeatureComparison) -> None:
    curves = feature.densities()
    oa = "-" if feature.oa is None else f"{feature.oa:.3f}"
    kl = "-" if feature.kl is None else f"{feature.kl:.3f}"
    ax.set_title(f"distances: OA {oa}, KL {kl}", fontsize="small", loc="left")
    for key, color, label in (("corpus_intra", _CORPUS, "intra-set, corpus"),
                              ("batch_intra", _BATCH, "intra-set, generated"),
                              ("inter", _INTER, "inter-set")):  # fmt: skip
        if key in curves:
            ax.plot(curves["grid"], curves[key], color=color, label=label, linewidth=1.2)
            ax.fill_between(curves["grid"], curves[key], color=color, alpha=0.12)
    ax.set_ylabel("density", fontsize="small")
    ax.legend(fontsize="x-small", frameon=False)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "&mdash;"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _pieces(count: Any, kind: str) -> str:
    return f"{_fmt(count)} {kind} piece{'' if count == 1 else 's'}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:72rem;
 padding:0 1rem;color:#222;line-height:1.4}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.85rem}
th,td{border:1px solid #ddd;padding:.2rem .5rem;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
.plots img,.piece img{max-width:100%;height:auto;display:block;margin:.5rem 0}
.piece{border:1px solid #ddd;border-radius:6px;padding:.75rem;margin:1rem 0}
.piece audio{width:100%}.muted{color:#666;font-size:.85rem}
.pieces{display:block;overflow-x:auto}
"""


def build_html(
    report: Mapping[str, Any],
    rows: Sequence[ManifestRow],
    media: Sequence[PieceMedia],
    plots: Mapping[str, str],
) -> str:
    """The page (a pure function of its arguments).

    Args:
        report: The batch's report (``report.json``'s content, ``corpus_comparison`` included).
        rows: Every piece's manifest row.
        media: The rendered pieces.
        plots: Feature name to its plot, relative to the page.

    Returns:
        The HTML text.
    """
    title = f"Batch {report.get('batch', '')}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # No favicon request: from a bucket it would be a 404 in the console.
        '<link rel="icon" href="data:,">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="muted">{_fmt(report.get("num_samples"))} pieces from '
        f"{_fmt(report.get('family'))} ({_fmt(report.get('encoding'))}), run "
        f"{_fmt(report.get('run'))}. Data: <a href=\"report.json\">report.json</a>, "
        '<a href="manifest.jsonl">manifest.jsonl</a>.</p>',
        "<h2>Settings</h2>",
        _table(["setting", "value"], [(html.escape(k), _fmt(v))
                                      for k, v in sorted((report.get("settings") or {}).items())]),
        _comparison_section(report.get("corpus_comparison") or {}, plots),
        "<h2>Quality</h2>",
        _table(["metric", "mean", "median", "min", "max", "count"],
               [(html.escape(name), *(_fmt(s.get(k)) for k in
                                      ("mean", "median", "min", "max", "count")))
                for name, s in sorted((report.get("quality") or {}).items())]),
        _memorization_section(report.get("memorization") or {}),
        "<h2>Rendered pieces</h2>",
        *(_piece(m) for m in media),
        "" if media else '<p class="muted">None rendered (see --render).</p>',
        "<h2>All pieces</h2>",
        _all_pieces(rows),
        "</body></html>",
    ]  # fmt: skip
    return "\n".join(p for p in parts if p) + "\n"


def _comparison_section(section: Mapping[str, Any], plots: Mapping[str, str]) -> str:
    head = "<h2>Against the corpus (Yang &amp; Lerch 2020)</h2>"
    if "features" not in section:
        reason = section.get("skipped", "not computed")
        return f'{head}<p class="muted">No comparison: {html.escape(str(reason))}.</p>'
    undefined = (
        " OA and KL need at least 2 held-out pieces and 1 generated piece with notes (for "
        "held-out pieces: a larger eval split, or more of it with --compare-records)."
        if section.get("mean_oa") is None
        else ""
    )
    intro = (
        f'<p class="muted">{_pieces(section.get("batch_pieces"), "generated")} against '
        f"{_pieces(section.get('corpus_pieces'), 'held-out')}. Per feature, the overlapping area "
        "(OA, 1 = the same) and KL divergence (0 = the same) of the corpus's intra-set distance "
        "density and the inter-set one: a batch like its corpus has a high OA and a low KL. "
        f"Mean OA {_fmt(section.get('mean_oa'))}, mean KL {_fmt(section.get('mean_kl'))}."
        f"{undefined}</p>"
    )

    def spread(stats: Mapping[str, Any]) -> str:
        return f"{_fmt(stats.get('mean'))} &plusmn; {_fmt(stats.get('std'))}"

    table = _table(
        ["feature", "OA", "KL", "OA (generated intra)", "corpus intra", "generated intra",
         "inter"],
        [(html.escape(name), _fmt(f.get("oa")), _fmt(f.get("kl")), _fmt(f.get("batch_oa")),
          spread(f.get("corpus_intra", {})), spread(f.get("batch_intra", {})),
          spread(f.get("inter", {})))
         for name, f in section["features"].items()],
    )  # fmt: skip
    images = "".join(
        f'<img src="{html.escape(path)}" alt="{html.escape(name)}: generated vs corpus" '
        'width="800" height="240">'
        for name, path in plots.items()
    )
    return f'{head}{intro}{table}<div class="plots">{images}</div>'


def _memorization_section(section: Mapping[str, Any]) -> str:
    run = section.get("longest_shared_run") or {}
    return (
        "<h2>Memorization</h2>"
        f'<p class="muted">Longest run of notes shared with the training split '
        f"({_fmt(section.get('corpus_records'))} records indexed; {_fmt(section.get('unit'))}): "
        f"median {_fmt(run.get('median'))}, max {_fmt(run.get('max'))}.</p>"
    )


def _piece(media: PieceMedia) -> str:
    row = media.row
    name = html.escape(row.sample_id)
    parts = [f'<div class="piece" id="{name}"><h3>{name} '
             f'<a class="muted" href="{html.escape(row.uri)}">MIDI</a></h3>']  # fmt: skip
    if media.image:
        parts.append(
            f'<img src="{html.escape(media.image)}" alt="piano roll of {name}" '
            'width="1200" height="600">'
        )
    if media.audio:
        parts.append(
            f'<audio controls preload="metadata"><source src="{html.escape(media.audio)}" '
            f'type="{media.audio_type}">Your browser cannot play {html.escape(media.audio)}.'
            "</audio>"
        )
    else:
        parts.append('<p class="muted">No audio (fluidsynth is not installed).</p>')
    metrics = sorted(row.metrics.items())
    parts.append(_table(["metric", "value"], [(html.escape(k), _fmt(v)) for k, v in metrics]))
    parts.append("</div>")
    return "".join(parts)


def _all_pieces(rows: Sequence[ManifestRow]) -> str:
    names = sorted({k for r in rows for k in r.metrics})
    return '<div class="pieces">' + _table(
        ["piece", "seed", *names],
        [(f'<a href="{html.escape(r.uri)}">{html.escape(r.sample_id)}</a>', _fmt(r.seed),
          *(_fmt(r.metrics.get(k)) for k in names)) for r in rows],
    ) + "</div>"  # fmt: skip


def plots_of(comparison: Comparison | None) -> dict[str, bytes]:
    """Feature name to its PNG bytes (none without a comparison)."""
    if comparison is None:
        return {}
    return {name: plot_feature(f) for name, f in comparison.features.items()}
