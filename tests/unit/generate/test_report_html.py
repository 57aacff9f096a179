"""report.html as a pure function: relative links only, escaped text, no timestamps, and the
feature plots."""

from __future__ import annotations

import re

import numpy as np

from musicgen.generate import corpus_compare as cc
from musicgen.generate.manifest import ManifestRow
from musicgen.generate.report_html import PieceMedia, build_html, plot_feature, plots_of


def _row(index: int) -> ManifestRow:
    return ManifestRow(
        sample_id=f"b-{index:05d}", index=index, seed=index, settings={}, uri=f"b-{index:05d}.mid",
        size=1, sha256="0" * 64, metrics={"notes": 3 + index, "polyphony": None},
    )  # fmt: skip


def _report() -> dict:
    return {
        "batch": "gs://bucket/generated/m/2026-12-01/b",
        "num_samples": 2,
        "family": "performance_rnn",
        "settings": {"temperature": 1.0, "primer": "<script>alert(1)</script>"},
        "quality": {"notes": {"mean": 3.5, "median": 3.5, "min": 3, "max": 4, "count": 2}},
        "memorization": {"corpus_records": 10, "longest_shared_run": {"median": 0, "max": 9}},
        "corpus_comparison": {"skipped": "the eval split 'eval' of x is not readable"},
    }


def test_page_links_are_relative_text_is_escaped_and_nothing_depends_on_time() -> None:
    rows = [_row(0), _row(1)]
    media = [PieceMedia(rows[0], "renders/b-00000.png", "renders/b-00000.ogg"),
             PieceMedia(rows[1], "renders/b-00001.png", "renders/b-00001.wav")]  # fmt: skip
    page = build_html(_report(), rows, media, {"pitch_range": "plots/pitch_range.png"})
    assert page == build_html(_report(), rows, media, {"pitch_range": "plots/pitch_range.png"})
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert "renders/b-00000.ogg" in links
    assert "b-00001.mid" in links
    assert all(not re.match(r"^(/|[a-z]+:)", link) or link == "data:," for link in links)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert 'type="audio/ogg"' in page
    assert 'type="audio/wav"' in page
    assert "No comparison: the eval split" in page
    assert "2026-12-01" in page  # the batch's own date, but no clock time
    assert not re.search(r"\d{2}:\d{2}:\d{2}", page)


def test_plots_are_pngs_and_reproducible() -> None:
    rng = np.random.default_rng(0)
    corpus = rng.normal(40, 8, (12, 1))
    batch = rng.normal(45, 8, (9, 1))
    feature = cc.compare_feature("pitch_range", corpus, batch)
    png = plot_feature(feature)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_feature(feature) == png
    hist = cc.compare_feature(
        "pitch_class_histogram", rng.dirichlet(np.ones(12), 6), rng.dirichlet(np.ones(12), 5)
    )
    assert plot_feature(hist)[:4] == b"\x89PNG"
    assert plots_of(None) == {}


def test_a_corpus_of_one_piece_says_why_oa_and_kl_are_missing() -> None:
    rng = np.random.default_rng(1)
    one = cc.compare_feature("pitch_range", rng.normal(40, 8, (1, 1)), rng.normal(45, 8, (4, 1)))
    many = cc.compare_feature("pitch_range", rng.normal(40, 8, (6, 1)), rng.normal(45, 8, (4, 1)))
    pages = {}
    for name, feature in (("one", one), ("many", many)):
        section = cc.Comparison(len(feature.corpus_values), 4, {"pitch_range": feature}).to_json()
        pages[name] = build_html({**_report(), "corpus_comparison": section}, [], [], {})
    assert "4 generated pieces against 1 held-out piece." in pages["one"]
    assert "at least 2 held-out pieces and 1 generated piece" in pages["one"]
    assert "4 generated pieces against 6 held-out pieces." in pages["many"]
    assert "at least 2 held-out pieces" not in pages["many"]
