"""report.html in a real headless Chromium (Debian's chromium + chromium-driver, via selenium):
opened straight from a bucket (the GCS emulator's public URLs, our objects' content types) and
from a pulled folder. The page loads without a console error, every image decodes, every audio
source loads, and a screenshot shows the plots.

The batch holds real music (POP909 songs the corpus does not hold) judged against the held-out
split of a dataset made from the bundled sample corpus, so the page shows real comparisons.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from musicgen import storage
from musicgen.config import ConvertConfig, ExamplesConfig
from musicgen.corpus.pipeline import convert_corpus
from musicgen.examples.encoding_info import read_encoding_info
from musicgen.examples.pipeline import make_examples
from musicgen.generate.batch import render_some
from musicgen.generate.corpus_compare import FEATURES
from musicgen.generate.manifest import (
    read_manifest,
    read_report,
    write_manifest,
    write_report,
    write_sample,
)
from musicgen.generate.pull import pull
from musicgen.generate.quality import batch_summary, metrics_of_bytes, parse_midi
from musicgen.generate.review import review_batch
from musicgen.generate.samples import midi_bytes
from musicgen.storage import layout
from musicgen.train.config import DataConfig
from tests.conftest import REPO, SAMPLE_CORPUS, first_seconds, in_testdata

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]

PIECES, RENDERED = 5, 2
# Set to a file path to keep the screenshot of the page read from the bucket (to look at it).
SCREENSHOT_ENV = "MUSICGEN_REPORT_SCREENSHOT"


@pytest.fixture(scope="module")
def heldout_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """What review_batch reads of a run: a real dataset (the sample corpus, half held out)."""
    root = tmp_path_factory.mktemp("corpus")
    convert_corpus(ConvertConfig(input=str(SAMPLE_CORPUS), output=str(root / "seq")))
    make_examples(ExamplesConfig(input=str(root / "seq"), output=str(root / "ex"), eval_ratio=0.5))
    dataset = str(root / "ex")
    return SimpleNamespace(
        config=SimpleNamespace(data=DataConfig(dataset=dataset)), info=read_encoding_info(dataset)
    )


def _make_batch(root: str, run: Any) -> tuple[str, dict[str, Any]]:
    """A batch of 20 s of real songs, written as the batch job writes one, page included."""
    prefix = layout.batch_prefix(root, "pop909-real", "2026-12-01", "h1")
    songs = sorted(in_testdata("datasets", "midi", "pop909", "midi").glob("*.mid"))[:PIECES]
    rows = []
    for index, path in enumerate(songs):
        data = midi_bytes(first_seconds(parse_midi(path.read_bytes()), 20.0))
        sample = layout.sample_id("h1", index)
        rows.append(write_sample(prefix, sample, data, index, {"temperature": 1.0},
                                 metrics_of_bytes(data)))  # fmt: skip
    write_manifest(prefix, rows)
    renders = render_some(prefix, rows[:RENDERED])
    report = {
        "batch": prefix,
        "num_samples": len(rows),
        "family": "performance_rnn",
        "encoding": "performance_with_dynamics",
        "settings": rows[0].settings,
        "quality": batch_summary(r.metrics for r in rows),
        "memorization": {"corpus_records": 0, "longest_shared_run": None, "unit": "notes"},
        "renders": renders,
    }
    report = review_batch(prefix, run, rows, report, render=RENDERED, compare_records=50)
    write_report(prefix, report)
    return prefix, report


@pytest.fixture(scope="module")
def bucket_batch(heldout_run: Any, gcs_emulator: Any) -> tuple[str, dict[str, Any]]:
    bucket = gcs_emulator.create_bucket()
    return _make_batch(bucket, heldout_run)


def _ensure_browser() -> tuple[str, str]:
    """Chromium and its driver; installed by run.sh's ensure_system_packages when missing."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        subprocess.run(["bash", str(REPO / "run.sh"), "system-packages"], check=False)
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail(
            "chromium/chromedriver missing and ./run.sh system-packages could not install them "
            "(it needs root and apt-get): apt-get install chromium chromium-driver"
        )
    return chromium, driver


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = _ensure_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--mute-audio"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _check_page(driver: Any, url: str) -> dict[str, Any]:
    """Loads the page and checks it as a reader would; returns what was found."""
    driver.get_log("browser")  # drop what an earlier page logged
    driver.get(url)
    deadline = time.monotonic() + 30
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = driver.execute_script(
            """return {
              ready: document.readyState,
              images: [...document.images].map(i => [i.getAttribute('src'), i.complete,
                                                      i.naturalWidth]),
              audio: [...document.querySelectorAll('audio')].map(a => [a.currentSrc,
                       a.readyState, a.error && a.error.code, a.duration]),
              links: [...document.querySelectorAll('[href],[src]')].map(
                       e => e.getAttribute('href') || e.getAttribute('src')),
              text: document.body.innerText,
            };"""
        )
        loaded = all(done for _, done, _ in state["images"])
        if state["ready"] == "complete" and loaded and all(a[1] >= 1 for a in state["audio"]):
            break
        time.sleep(0.2)
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
    for src, _, width in state["images"]:
        assert width > 0, f"image {src} did not load"
    assert len(state["audio"]) == RENDERED
    for src, ready, error, duration in state["audio"]:
        assert src.endswith(".ogg"), src  # oggenc is installed here: the compressed audio
        assert error is None, (src, error)
        assert ready >= 1, src  # HAVE_METADATA: the file was fetched and decoded
        assert 18 < duration < 25, (src, duration)  # 20 s of music, the release tail trimmed
    for link in state["links"]:  # everything relative to the page: reads from any bucket
        assert not link.startswith(("/", "http:", "https:", "file:", "gs:")), link
    return state


def _plot_pixels(png: bytes) -> tuple[float, float]:
    """Shares of the screenshot in the plots' generated-blue and corpus-grey."""
    import io

    from matplotlib.image import imread

    rgb = (imread(io.BytesIO(png), format="png")[..., :3] * 255).astype(int)
    blue = (np.abs(rgb - [31, 119, 180]).sum(axis=-1) < 30).mean()
    grey = (np.abs(rgb - [127, 127, 127]).sum(axis=-1) < 20).mean()
    return float(blue), float(grey)


def test_report_has_the_comparison_and_lists_every_file_of_the_page(
    bucket_batch: tuple[str, dict[str, Any]], heldout_run: Any
) -> None:
    prefix, report = bucket_batch
    section = report["corpus_comparison"]
    assert section["batch_pieces"] == PIECES
    assert section["corpus_pieces"] >= 5  # one chunk per held-out song
    assert list(section["features"]) == list(FEATURES)
    assert section["mean_oa"] > 0.5  # real songs against real songs
    files = report["report_html"]["files"]
    assert sorted(files) == sorted(
        [*(layout.plot_name(f) for f in FEATURES),
         *(layout.render_name(f"h1-{i:05d}", s) for i in range(RENDERED) for s in (".png", ".ogg"))]
    )  # fmt: skip
    assert read_report(prefix) == json.loads(json.dumps(report))
    # A second review of the same pieces rewrites the same page and files, byte for byte.
    page = storage.read_bytes(storage.join(prefix, layout.REPORT_HTML))
    first_sections = ("corpus_comparison", "report_html")
    before = {k: v for k, v in report.items() if k not in first_sections}
    again = review_batch(prefix, heldout_run, read_manifest(prefix), before, render=RENDERED,
                         compare_records=50)  # fmt: skip
    assert again == report
    assert storage.read_bytes(storage.join(prefix, layout.REPORT_HTML)) == page
    assert b"nan" not in page.lower().replace(b"nano", b"")


def test_page_read_from_the_bucket_and_from_a_pulled_folder(
    bucket_batch: tuple[str, dict[str, Any]], gcs_emulator: Any, browser: Any, tmp_path: Path
) -> None:
    prefix, report = bucket_batch
    bucket, key = prefix.removeprefix("gs://").split("/", 1)
    state = _check_page(browser, f"{gcs_emulator.endpoint}/{bucket}/{key}/{layout.REPORT_HTML}")
    assert len(state["images"]) == len(FEATURES) + RENDERED
    assert "Against the corpus" in state["text"]
    assert "pitch_class_histogram" in state["text"]
    plots = browser.find_element("css selector", ".plots")
    browser.execute_script("arguments[0].scrollIntoView()", plots)
    shot = plots.screenshot_as_png
    keep = os.environ.get(SCREENSHOT_ENV)
    if keep:
        Path(keep).write_bytes(shot)
    blue, grey = _plot_pixels(shot)
    assert blue > 0.005, blue  # the generated bars, histograms and curves are drawn
    assert grey > 0.005, grey  # and the corpus's

    dest = tmp_path / "pulled"
    pulled = pull(prefix, str(dest))
    assert pulled.page_files == 1 + len(report["report_html"]["files"])
    assert (dest / layout.REPORT_HTML).read_bytes() == storage.read_bytes(
        storage.join(prefix, layout.REPORT_HTML)
    )
    _check_page(browser, (dest / layout.REPORT_HTML).as_uri())
    assert pull(prefix, str(dest)).page_files == 0  # verified copies are kept
