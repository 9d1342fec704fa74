"""Run directories that are never lost or half-written: checks, staging, publishing.

A fresh run is built in a staging directory next to its target (``.NAME.new-XXXX``) until its
first consistent state exists (``config.toml``, an empty ``metrics.jsonl`` and the step-0
checkpoint), then renamed into place in one step; from then on every file is replaced atomically
(:mod:`.checkpoint`). So at any moment the target is absent, the old run, or a resumable new
run, never a mix. A non-empty target is refused unless ``force``, which renames it aside to a
sibling ``NAME.old-YYYYmmdd-HHMMSS`` (never deleted) just before the new run takes its place.
"""

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import FotrainError
from .checkpoint import fsync_dir

__all__ = ["check_fresh_out", "check_resume_dir", "discard", "move_aside", "publish", "stage"]


def _holds_files(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def check_fresh_out(out: Path, *, force: bool) -> None:
    """Refuse a target a fresh run cannot take, before any work (nothing is written).

    Parameters
    ----------
    out : Path
        The run directory asked for.
    force : bool
        A non-empty directory may be moved aside.

    Raises
    ------
    FotrainError
        ``out`` is a file, a non-empty directory without ``force``, or cannot be created.
    """
    if out.exists() and not out.is_dir():
        raise FotrainError(f"--out: {str(out)!r} is a file, not a run directory")
    if _holds_files(out) and not force:
        raise FotrainError(
            f"--out: {str(out)!r} already holds files; continue that run with --resume "
            f"{out}, or start afresh with --force (moves it aside)"
        )
    anc = out.absolute().parent
    while not anc.exists():  # the nearest existing ancestor is where mkdir would start
        anc = anc.parent
    if not anc.is_dir():
        raise FotrainError(f"--out: cannot create {str(out)!r} ({anc} is not a directory)")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise FotrainError(f"--out: cannot create {str(out)!r} (no write permission in {anc})")


def check_resume_dir(out: Path) -> None:
    """Refuse ``--resume DIR`` where DIR is no run directory.

    Parameters
    ----------
    out : Path
        The run directory to continue.

    Raises
    ------
    FotrainError
        ``out`` is missing, a file, or holds no ``config.toml``.
    """
    if not out.exists():
        raise FotrainError(f"--resume: no such run directory {str(out)!r}")
    if not out.is_dir():
        raise FotrainError(f"--resume: {str(out)!r} is a file, not a run directory")
    if not (out / "config.toml").is_file():
        raise FotrainError(
            f"--resume: {str(out)!r} holds no config.toml (not a fotrain run directory)"
        )


def stage(out: Path) -> Path:
    """Create the staging directory of a fresh run next to ``out`` (and ``out``'s parents).

    Parameters
    ----------
    out : Path
        The target run directory.

    Returns
    -------
    Path
        A new empty directory ``.NAME.new-XXXX`` in ``out``'s parent.

    Raises
    ------
    FotrainError
        The parent cannot be created or written (an OS error on a user path).
    """
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    except OSError as e:
        raise FotrainError(f"--out: cannot create {str(out)!r} ({e.strerror})") from None


def discard(staging: Path) -> None:
    """Remove a staging directory that was never published (it holds no run yet).

    Parameters
    ----------
    staging : Path
        What :func:`stage` returned.
    """
    shutil.rmtree(staging, ignore_errors=True)


def move_aside(out: Path) -> Path:
    """Rename ``out`` to the first free sibling ``NAME.old-YYYYmmdd-HHMMSS[-N]``.

    Parameters
    ----------
    out : Path
        An existing run directory.

    Returns
    -------
    Path
        Where it is now.
    """
    base = out.with_name(f"{out.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
    target, n = base, 1
    while target.exists():
        target, n = base.with_name(f"{base.name}-{n}"), n + 1
    out.rename(target)
    return target


def publish(
    staging: Path, out: Path, *, force: bool, log: Callable[[str], None] | None = None
) -> Path | None:
    """Rename the staged run into ``out``, first moving a non-empty ``out`` aside if ``force``.

    Parameters
    ----------
    staging : Path
        The staged run (its first consistent state written).
    out : Path
        The target.
    force : bool
        Move a non-empty ``out`` aside (else refuse: it appeared since the check).
    log : callable or None
        Told where an old run went.

    Returns
    -------
    Path or None
        Where the old run went, if one was moved aside.

    Raises
    ------
    FotrainError
        ``out`` holds files (without ``force``) or cannot be replaced.
    """
    moved = None
    if _holds_files(out):
        if not force:
            raise FotrainError(f"--out: {str(out)!r} already holds files (written meanwhile?)")
        moved = move_aside(out)
        if log is not None:
            log(f"fotrain: --force: moved the old run {out} aside to {moved}")
    try:
        staging.rename(out)  # replaces an empty directory too, atomically
    except OSError as e:
        raise FotrainError(f"--out: cannot create {str(out)!r} ({e.strerror})") from None
    fsync_dir(out.parent)
    return moved
