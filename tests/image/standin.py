"""A stand-in for rayproject/ray built from Debian packages, since Docker Hub is not reachable here.

It looks like Ray's images where docker/Dockerfile relies on them: Python 3.11, the user ``ray``
(uid 1000, gid 100 ``users``, home /home/ray) owning the Python that ``python`` and ``pip`` on PATH
run (a venv at /home/ray/venv), and a current pip. Ray itself is not in it: the Dockerfile installs
ray from docker/constraints.txt, as it would on the real base (where the pin is already met).

Built once per set of inputs: the image is tagged with a hash of everything that shapes it, so a
re-run finds it in buildah's local storage and a changed recipe builds a new one.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from tests.image import buildah

REPOSITORY = "localhost/musicgen-test/ray-standin"
SUITE = "bookworm"  # Python 3.11, as the py311 Ray images
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
# Ray's images ship a current pip, which verifies TLS against the system store (truststore, pip
# >= 24.2); bookworm's venv pip 23.0 would use its own certifi bundle instead.
PIP = "pip==26.3"
# Local CA certificates of this machine (a TLS-intercepting egress proxy, say), made trusted in the
# stand-in so that pip inside the build reaches PyPI the way it does on the host.
LOCAL_CAS = Path("/usr/local/share/ca-certificates")
VENV_PIP = "/home/ray/venv/bin/pip"
# The image config: Ray's images also default to the ray user in its home.
USER = "1000:100"
WORKDIR = "/home/ray"
ENV = {
    "HOME": "/home/ray",
    "PATH": "/home/ray/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
}

AS_RAY = 'chroot --userspec=1000:100 "$1" env -i HOME=/home/ray PATH=/usr/bin:/bin'
HOOKS = (
    f'[ ! -d {LOCAL_CAS} ] || cp -R {LOCAL_CAS}/. "$1{LOCAL_CAS}/"',
    'chroot "$1" update-ca-certificates',
    'chroot "$1" useradd --uid 1000 --gid 100 --create-home --home-dir /home/ray '
    "--shell /bin/bash ray",
    f"{AS_RAY} python3 -m venv /home/ray/venv",
    # PIP_CERT for this one call: the venv's old pip does not read the system store yet.
    f"{AS_RAY} PIP_CERT=/etc/ssl/certs/ca-certificates.crt {VENV_PIP} install -q --no-cache-dir "
    f"{PIP}",
)


def mmdebstrap_argv(tarball: Path) -> list[str]:
    return [
        "mmdebstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        *(f"--customize-hook={hook}" for hook in HOOKS),
        SUITE,
        str(tarball),
        MIRROR,
    ]


def recipe_key() -> str:
    """A hash of everything that shapes the stand-in (the tarball path excluded)."""
    cas = {p.name: p.read_bytes().hex() for p in sorted(LOCAL_CAS.glob("*.crt"))}
    recipe = {"argv": mmdebstrap_argv(Path("-")), "config": [USER, WORKDIR, ENV], "cas": cas}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def ensure(workdir: Path, log: Path) -> tuple[str, float | None]:
    """The stand-in's image name, and its build time in seconds (None: found in local storage).

    Earlier stand-ins (other recipes) are removed once the new one is built.
    """
    name = f"{REPOSITORY}:{recipe_key()}"
    if buildah.image_id(name) is not None:
        return name, None
    started = time.monotonic()
    tarball = workdir / "standin-rootfs.tar"
    buildah.run(mmdebstrap_argv(tarball), timeout=1200, log=log)
    container = buildah.run(["buildah", "from", "scratch"], timeout=60).strip()
    try:
        buildah.run(["buildah", "add", container, str(tarball), "/"], timeout=600, log=log)
        config = ["--user", USER, "--workingdir", WORKDIR]
        for key, value in ENV.items():
            config += ["--env", f"{key}={value}"]
        buildah.run(["buildah", "config", *config, container], timeout=60, log=log)
        buildah.run(["buildah", "commit", "--quiet", container, name], timeout=600, log=log)
    finally:
        buildah.remove_container(container)
        tarball.unlink(missing_ok=True)
    for stale in buildah.tags_of(REPOSITORY):
        if stale != name:
            buildah.remove_image(stale)
    return name, time.monotonic() - started
