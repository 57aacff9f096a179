"""buildah as the image tests drive it: root's local image storage, builds and runs in a chroot.

No Docker daemon and no OCI runtime are needed: ``--isolation chroot`` runs each step in a chroot
with /proc, /dev, /dev/shm and /sys mounted by buildah itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

INSTALL_HINT = "./run.sh image installs them (as root), or: apt-get install buildah mmdebstrap"


class BuildahError(RuntimeError):
    """A buildah (or mmdebstrap) command failed; the message ends with its output's tail."""


def missing_prerequisites() -> str | None:
    """Why these tests cannot run here, or None when they can."""
    missing = [tool for tool in ("buildah", "mmdebstrap") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found: {INSTALL_HINT}"
    if os.geteuid() != 0:
        return "buildah --isolation chroot and mmdebstrap need root here (no rootless set-up)"
    return None


def run(
    argv: Sequence[str], *, timeout: float, log: Path | None = None, merge: bool = False
) -> str:
    """Runs a command and returns its stdout (``merge``: with stderr interleaved).

    All output is appended to ``log`` as well, when given.

    Raises:
        BuildahError: the command failed or ran past ``timeout``; the last 60 lines are included.
    """
    try:
        proc = subprocess.run(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge else subprocess.PIPE,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BuildahError(f"{argv[0]} ran past {timeout:.0f} s: {' '.join(argv)}") from exc
    output = proc.stdout + (proc.stderr or "")
    if log is not None:
        with log.open("a", encoding="utf-8") as fh:
            fh.write(f"$ {' '.join(argv)}\n{output}\n")
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-60:])
        where = f" (full output: {log})" if log else ""
        raise BuildahError(f"exit {proc.returncode}: {' '.join(argv)}{where}\n{tail}")
    return proc.stdout


def image_id(name: str) -> str | None:
    """The id of a local image, or None when there is none by that name."""
    proc = subprocess.run(
        ["buildah", "images", "--json", name], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    images = json.loads(proc.stdout)
    return str(images[0]["id"]) if images else None


def image_size(name: str) -> str:
    """The image's size as buildah (and `docker images`) shows it: all layers, uncompressed."""
    (image,) = json.loads(run(["buildah", "images", "--json", name], timeout=60))
    return str(image["size"])


def tags_of(repository: str) -> list[str]:
    """Every local ``repository:tag`` name of a repository (e.g. earlier stand-in bases)."""
    out = run(["buildah", "images", "--json"], timeout=60)
    names = [n for image in json.loads(out or "[]") for n in image.get("names") or []]
    return [n for n in names if n.rsplit(":", 1)[0] == repository]


def remove_image(name_or_id: str) -> None:
    """Removes an image; one still used by a container is left (a later run removes it)."""
    subprocess.run(["buildah", "rmi", name_or_id], capture_output=True, check=False)


def new_container(image: str) -> str:
    """A working container from ``image``; the caller removes it with ``remove_container``."""
    return run(["buildah", "from", "--pull=never", image], timeout=300).strip()


def remove_container(container: str) -> None:
    subprocess.run(["buildah", "rm", container], capture_output=True, check=False)


def run_in(
    container: str,
    command: Sequence[str],
    *,
    timeout: float,
    user: str = "1000:100",
    mounts: Sequence[tuple[Path, str, str]] = (),
    log: Path | None = None,
    merge: bool = False,
) -> str:
    """Runs ``command`` in the container as ``user``; mounts are (host path, path, "ro"|"rw")."""
    argv = ["buildah", "run", "--isolation", "chroot", "--user", user]
    for source, target, mode in mounts:
        argv += ["--volume", f"{source}:{target}:{mode}"]
    return run([*argv, container, "--", *command], timeout=timeout, log=log, merge=merge)
