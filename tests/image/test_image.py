"""docker/Dockerfile built for real, without a Docker daemon, and the four jobs run in the image.

On a Debian stand-in for rayproject/ray (standin.py; Docker Hub is out of reach), the CPU variant
is built with ``buildah bud --isolation chroot``. Then, as uid 1000 in a chroot of the image, the
way a RayJob runs it: the CLI, the imports, the CRDs as package data, and on the sample corpus
convert -> examples -> train (5 steps) -> generate (2 pieces), each on an embedded local Ray.
Converting must compile nothing: the Dockerfile warms the numba cache at build time.

Needs root, buildah, mmdebstrap, and deb.debian.org and PyPI; run by ``./run.sh image``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.image import buildah, standin
from tests.image.figures import record, seconds

# Setup builds the image: 6 to 10 minutes on 2 cores, more on a busy machine.
pytestmark = [pytest.mark.image, pytest.mark.timeout(3600)]

REPO = Path(__file__).resolve().parents[2]
IMAGE = "localhost/musicgen-test/musicgen:cpu"
JOBS = "/home/ray/musicgen/jobs"
OUT = "/data/out"
CORPUS = "/data/sample-corpus"
# Each job starts its own embedded 2-CPU Ray; usage stats would try to phone home.
ENV = ["env", "RAY_USAGE_STATS_ENABLED=0"]
PYTHON = [*ENV, "python"]
RAY = ["--num-cpus", "2"]
# Every numba cache file of the installed package and of the user-wide fallback, with size and
# mtime: a compile adds files or rewrites an index, so equal listings mean nothing was compiled.
CACHE_LISTING = (
    'pkg=$(python -c "import importlib.util as u; '
    "print(u.find_spec('musicgen').submodule_search_locations[0])\"); "
    'find "$pkg" "$HOME/.cache" -name "*.nb[ic]" -printf "%p %s %T@\\n" 2>/dev/null | sort; true'
)
PYCACHE = "/site-packages/musicgen/corpus/__pycache__/"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("image")


@pytest.fixture(scope="module")
def image(workdir: Path) -> str:
    """The CPU image, built now on the (cached) stand-in base; the previous build is removed."""
    why = buildah.missing_prerequisites()
    if why:
        pytest.fail(why)
    log = workdir / "build.log"
    base, base_s = standin.ensure(workdir, log)
    how = f"built in {seconds(base_s)}" if base_s is not None else "found in local storage"
    record("stand-in base", f"{base}, {buildah.image_size(base)}, {how}")
    previous = buildah.image_id(IMAGE)
    # --format docker as `docker build` writes: OCI images have no SHELL, which the Dockerfile sets.
    bud = ["buildah", "bud", "--isolation", "chroot", "--format", "docker"]
    args = ["--build-arg", "VARIANT=cpu", "--build-arg", f"BASE_IMAGE_CPU={base}"]
    args += ["--file", str(REPO / "docker" / "Dockerfile")]
    containers = _containers()
    started = time.monotonic()
    try:
        buildah.run([*bud, *args, "--tag", IMAGE, str(REPO)], timeout=3000, log=log)
    finally:
        # buildah leaves the container of each FROM stage behind, and that of a failed step.
        for leftover in _containers() - containers:
            buildah.remove_container(leftover)
    record("image build (buildah bud, CPU variant)", seconds(time.monotonic() - started))
    record("image size", f"{buildah.image_size(IMAGE)} (the stand-in base's included)")
    if previous is not None and previous != buildah.image_id(IMAGE):
        buildah.remove_image(previous)
    return IMAGE


def _containers() -> set[str]:
    return set(
        buildah.run(["buildah", "containers", "--quiet", "--notruncate"], timeout=60).split()
    )


@pytest.fixture(scope="module")
def outputs(workdir: Path) -> Path:
    """The host folder the jobs write to, mounted as /data/out; uid 1000 must own it."""
    folder = workdir / "out"
    folder.mkdir()
    os.chown(folder, 1000, 100)
    return folder


@pytest.fixture(scope="module")
def run_in_image(image: str, outputs: Path, workdir: Path) -> Iterator[Runner]:
    """Runs commands in one working container of the image, as a pod would run its steps."""
    container = buildah.new_container(image)
    yield Runner(container, outputs, workdir / "run.log")
    buildah.remove_container(container)


class Runner:
    """Commands in the container as uid 1000, with the corpus (ro) and the outputs (rw) mounted."""

    def __init__(self, container: str, outputs: Path, log: Path) -> None:
        self.container = container
        self.mounts = [(REPO / "data" / "sample-corpus", CORPUS, "ro"), (outputs, OUT, "rw")]
        self.log = log

    def __call__(
        self, command: Sequence[str], figure: str | None = None, merge: bool = False
    ) -> str:
        """The command's stdout (``merge``: and stderr); ``figure`` names its duration."""
        started = time.monotonic()
        out = buildah.run_in(
            self.container, command, mounts=self.mounts, timeout=1800, log=self.log, merge=merge
        )
        if figure:
            record(f"in image: {figure}", seconds(time.monotonic() - started))
        return out


def test_cli_and_imports_as_uid_1000(run_in_image: Runner) -> None:
    assert run_in_image(["id", "-u"]).strip() == "1000"
    out = run_in_image(["musicgen", "--help"], "musicgen --help")
    for command in ("convert", "examples", "train", "generate"):
        assert command in out
    script = "import tensorflow, keras, ray; print(ray.__version__)"
    out = run_in_image([*PYTHON, "-c", script], "python -c 'import tensorflow, keras, ray'")
    assert out.split()[-1] == "2.60.0"


def test_the_installed_package_is_the_only_copy_and_carries_the_crds(
    run_in_image: Runner,
) -> None:
    """From the working directory (/home/ray/musicgen), no source tree shadows site-packages."""
    script = (
        "import musicgen; from musicgen.schedule import k8s_schema as k; "
        "print(musicgen.__file__); print(k.load_crd_schema('RayJob').source)"
    )
    package, crd = run_in_image([*PYTHON, "-c", script]).split()
    assert "/site-packages/musicgen/" in package
    assert crd == str(Path(package).parent / "schedule" / "kuberay_crds" / "ray.io_rayjobs.yaml")


def test_convert_uses_the_numba_cache_warmed_at_build_time(
    run_in_image: Runner, outputs: Path
) -> None:
    before = run_in_image(["sh", "-c", CACHE_LISTING])
    assert f"{PYCACHE}midi_fast._build-" in before  # the compiled parser's two entry points
    assert f"{PYCACHE}midi_events.parse_smf-" in before
    debug = ["NUMBA_DEBUG_CACHE=1", "RAY_DEDUP_LOGS=0"]  # numba reports each load and save
    convert = [f"{JOBS}/convert_corpus.py", CORPUS, f"{OUT}/sequences", *RAY]
    figure = "jobs/convert_corpus.py (24 files)"
    out = run_in_image([*ENV, *debug, "python", *convert], figure, merge=True)
    after = run_in_image(["sh", "-c", CACHE_LISTING])
    stats = json.loads((outputs / "sequences" / "stats.json").read_text())
    assert (stats["inputs"], stats["converted"], stats["parser"]) == (24, 24, "fast")
    assert stats["parser_fallbacks"] == 0  # numba's parser did the work, not note_seq
    assert after == before  # nothing compiled, nothing saved (nor in ~/.cache)
    loaded = re.escape(f"{PYCACHE}midi_fast._build-")
    assert re.search(rf"\[cache\] data loaded from '\S*{loaded}", out)  # from the image's cache
    assert "[cache] data saved" not in out
    assert "[cache] index saved" not in out


def test_examples_train_and_generate(run_in_image: Runner, outputs: Path) -> None:
    if not (outputs / "sequences" / "stats.json").is_file():
        pytest.fail("no converted corpus: test_convert_uses_the_numba_cache... failed first")
    run_in_image(
        [*PYTHON, f"{JOBS}/make_examples.py", f"{OUT}/sequences", f"{OUT}/examples",
         "--encoding", "performance_with_dynamics", *RAY],
        "jobs/make_examples.py",
    )  # fmt: skip
    run_in_image(
        [*PYTHON, f"{JOBS}/train.py", "--config",
         "/home/ray/musicgen/configs/performance_rnn_smoke.yaml", "--dataset", f"{OUT}/examples",
         "--runs-dir", f"{OUT}/runs", "--run-id", "image", "--num-steps", "5", *RAY],
        "jobs/train.py (5 steps)",
    )  # fmt: skip
    run = outputs / "runs" / "performance_rnn" / "image"
    assert (run / "model.keras").is_file()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows if row["split"] == "train"] == [5]

    run_in_image(
        [*PYTHON, f"{JOBS}/generate_batch.py", "--run", f"{OUT}/runs/performance_rnn/image",
         "--output", OUT, "--batch-id", "image", "--num-samples", "2", "--num-steps", "200",
         "--render", "1", *RAY],
        "jobs/generate_batch.py (2 pieces)",
    )  # fmt: skip
    (manifest,) = (outputs / "generated").rglob("manifest.jsonl")
    assert len(manifest.read_text().splitlines()) == 2
    assert len(list(manifest.parent.glob("*.mid"))) == 2
    assert (manifest.parent / "report.json").is_file()
    assert len(list((manifest.parent / "renders").glob("*.png"))) == 1  # matplotlib works
