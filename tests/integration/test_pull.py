"""`pull` of generated batches from the real GCS emulator and from local folders: verified,
resumable, refusing incomplete batches, and finding the newest complete one."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from musicgen import storage
from musicgen.errors import ObjectNotFound, StorageError
from musicgen.generate import pull
from musicgen.generate.manifest import write_manifest, write_report, write_sample
from musicgen.storage import layout

pytestmark = pytest.mark.integration

SAMPLES = 5


@pytest.fixture(params=["gcs", "local"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A bucket in the emulator, or a local folder standing in for one."""
    if request.param == "gcs":
        return str(request.getfixturevalue("gcs_bucket"))
    return str(tmp_path / "bucket")


def _midi(index: int) -> bytes:
    # Pull never parses MIDI; distinct sizes and contents are what matter here.
    return b"MThd\x00\x00\x00\x06" + hashlib.sha256(str(index).encode()).digest() * (index + 1)


def _write_batch(root: str, date: str, batch: str, *, complete: bool = True) -> str:
    prefix = layout.batch_prefix(root, "prnn", date, batch)
    rows = [
        write_sample(prefix, layout.sample_id(batch, i), _midi(i), 100 + i, {"t": 1.0}, {"n": i})
        for i in range(SAMPLES)
    ]
    write_manifest(prefix, rows)
    if complete:
        write_report(prefix, {"samples": SAMPLES, "batch": batch})
    return prefix


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_pull_then_resume_then_repair(root: str, tmp_path: Path) -> None:
    prefix = _write_batch(root, "2024-05-01", "b1")
    dest = tmp_path / "out"
    first = pull.pull(prefix, dest)
    total = sum(len(_midi(i)) for i in range(SAMPLES))
    assert (first.downloaded, first.repaired, first.skipped, first.bytes) == (SAMPLES, 0, 0, total)
    expected = sorted(
        [f"b1-{i:05d}.mid" for i in range(SAMPLES)] + ["manifest.jsonl", "report.json"]
    )
    assert _names(dest) == expected
    assert (dest / "b1-00003.mid").read_bytes() == _midi(3)
    assert (dest / "manifest.jsonl").read_bytes() == storage.read_bytes(f"{prefix}/manifest.jsonl")

    again = pull.pull(prefix, dest)
    assert (again.downloaded, again.repaired, again.skipped, again.bytes) == (0, 0, SAMPLES, 0)

    (dest / "b1-00001.mid").unlink()
    (dest / "b1-00004.mid").write_bytes(b"corrupt")
    fixed = pull.pull(prefix, dest)
    assert (fixed.downloaded, fixed.repaired, fixed.skipped) == (1, 1, SAMPLES - 2)
    assert fixed.bytes == len(_midi(1)) + len(_midi(4))
    assert (dest / "b1-00004.mid").read_bytes() == _midi(4)
    assert _names(dest) == expected


def test_incomplete_batch_is_refused(root: str, tmp_path: Path) -> None:
    prefix = _write_batch(root, "2024-05-01", "b2", complete=False)
    with pytest.raises(ObjectNotFound, match=r"incomplete \(no report\.json\)") as info:
        pull.pull(prefix, tmp_path / "out")
    assert prefix in str(info.value)
    assert not (tmp_path / "out").exists()


def test_latest_picks_newest_complete_batch(root: str, tmp_path: Path) -> None:
    _write_batch(root, "2024-05-01", "b9")
    newest = _write_batch(root, "2024-05-02", "b1")
    _write_batch(root, "2024-05-03", "b1", complete=False)
    report = pull.pull(root, tmp_path / "out", latest=True)
    assert report.source == newest
    assert report.downloaded == SAMPLES
    assert pull.pull(root, tmp_path / "out", latest=True, model="prnn").skipped == SAMPLES
    with pytest.raises(ObjectNotFound, match="no complete batch"):
        pull.pull(root, tmp_path / "other", latest=True, model="lstm")


def test_corrupt_object_is_an_error_and_leaves_nothing(root: str, tmp_path: Path) -> None:
    prefix = _write_batch(root, "2024-05-01", "b3")
    bad = storage.join(prefix, "b3-00002.mid")
    storage.write_bytes(bad, b"tampered")
    dest = tmp_path / "out"
    (dest).mkdir()
    (dest / "b3-00002.mid").write_bytes(b"stale")
    want = hashlib.sha256(_midi(2)).hexdigest()
    got = hashlib.sha256(b"tampered").hexdigest()
    with pytest.raises(pull.ChecksumMismatch, match=f"{want}.*{got}") as info:
        pull.pull(prefix, dest)
    assert bad in str(info.value)
    assert _names(dest) == ["b3-00000.mid", "b3-00001.mid"]  # no bad, stale or temp file


def test_killed_pull_leaves_no_partial_file_and_resumes(root: str, tmp_path: Path) -> None:
    """A real `musicgen pull` process is SIGKILLed mid-download, then run again."""
    import signal
    import subprocess
    import sys
    import time

    prefix = layout.batch_prefix(root, "prnn", "2024-05-02", "big")
    big = [b"MThd" + os.urandom(512 * 1024) for _ in range(60)]
    rows = [write_sample(prefix, layout.sample_id("big", i), data, i, {}, {})
            for i, data in enumerate(big)]  # fmt: skip
    write_manifest(prefix, rows)
    write_report(prefix, {"num_samples": len(rows)})
    dest = tmp_path / "out"
    cmd = [sys.executable, "-m", "musicgen.cli", "pull", prefix, str(dest)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(dest.glob("*.mid")):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    present = sorted(dest.glob("*.mid"))
    assert 0 < len(present) < len(rows), "the kill landed before or after the download"
    expected = {r.uri: r.sha256 for r in rows}
    for path in present:  # whatever is there is whole: written to a temp name, then renamed
        assert hashlib.sha256(path.read_bytes()).hexdigest() == expected[path.name]
    resumed = pull.pull(prefix, dest)
    assert resumed.skipped == len(present)
    assert resumed.downloaded == len(rows) - len(present)
    assert sorted(p.name for p in dest.iterdir() if p.suffix == ".mid") == sorted(expected)


def test_pull_refuses_gcs_destination_and_unsafe_names(root: str, tmp_path: Path) -> None:
    prefix = _write_batch(root, "2024-05-01", "b5")
    with pytest.raises(ValueError, match="local folder"):
        pull.pull(prefix, "gs://elsewhere/out")
    manifest = storage.join(prefix, layout.MANIFEST)
    text = storage.read_bytes(manifest).decode().replace('"uri":"b5-00000.mid"', '"uri":"../x.mid"')
    storage.write_text(manifest, text)
    with pytest.raises(StorageError, match="bad object name"):
        pull.pull(prefix, tmp_path / "out")


def _write_page(prefix: str, files: dict[str, bytes], names: dict[str, str] | None = None) -> None:
    """Gives a batch a report.html and its files, listed (with sha256) as the batch job does."""
    page = b"<!DOCTYPE html><title>b</title>"
    for name, data in {layout.REPORT_HTML: page, **files}.items():
        storage.write_bytes(storage.join(prefix, name), data)
    listed = {(names or {}).get(n, n): hashlib.sha256(d).hexdigest() for n, d in files.items()}
    write_report(prefix, {"samples": SAMPLES, "report_html": {
        "page": layout.REPORT_HTML, "sha256": hashlib.sha256(page).hexdigest(), "files": listed,
    }})  # fmt: skip


def test_pull_brings_the_page_and_its_files_verified(root: str, tmp_path: Path) -> None:
    prefix = _write_batch(root, "2024-05-01", "b6")
    files = {layout.render_name("b6-00000", ".png"): b"\x89PNG roll",
             layout.render_name("b6-00000", ".ogg"): b"OggS audio",
             layout.plot_name("pitch_range"): b"\x89PNG plot"}  # fmt: skip
    _write_page(prefix, files)
    dest = tmp_path / "out"
    first = pull.pull(prefix, dest)
    assert (first.downloaded, first.page_files) == (SAMPLES, 1 + len(files))
    for name, data in files.items():
        assert (dest / name).read_bytes() == data
    assert (dest / layout.REPORT_HTML).read_bytes() == storage.read_bytes(
        storage.join(prefix, layout.REPORT_HTML)
    )
    assert pull.pull(prefix, dest).page_files == 0  # verified copies are kept
    (dest / layout.plot_name("pitch_range")).write_bytes(b"stale")
    assert pull.pull(prefix, dest).page_files == 1  # and a wrong one is fetched again
    storage.write_bytes(storage.join(prefix, layout.render_name("b6-00000", ".ogg")), b"bad")
    (dest / layout.render_name("b6-00000", ".ogg")).unlink()
    with pytest.raises(pull.ChecksumMismatch, match=r"b6-00000\.ogg"):
        pull.pull(prefix, dest)
    assert not (dest / layout.render_name("b6-00000", ".ogg")).exists()


@pytest.mark.parametrize("bad", ["../escape.png", "renders/../../x.png", "/abs.png",
                                 "other/x.png", "renders/.hidden.png"])  # fmt: skip
def test_pull_refuses_page_files_outside_the_page_folders(
    root: str, tmp_path: Path, bad: str
) -> None:
    prefix = _write_batch(root, "2024-05-01", "b7")
    _write_page(prefix, {"renders/ok.png": b"x"}, names={"renders/ok.png": bad})
    with pytest.raises(StorageError, match="report_html: bad file name"):
        pull.pull(prefix, tmp_path / "out")
    assert not (tmp_path / "escape.png").exists()
