"""Checks on the output paths a user gives, made before any work (so nothing is written).

OS errors on user paths are user mistakes: a file where a directory is needed, a directory where
a file is, a parent that cannot be created. Each check raises the one-line
:class:`~fotrain.sw.errors.FotrainError` naming the option; the real write still catches
``OSError`` (a check is no guarantee against a race or a full disk).
"""

import os
from pathlib import Path

__all__ = ["check_out_dir", "check_out_file"]


def _creatable(path: Path, flag: str) -> None:
    """Refuse ``path`` when its nearest existing ancestor is no writable directory."""
    from ..sw.errors import FotrainError

    anc = path.absolute().parent
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise FotrainError(f"{flag}: cannot create {str(path)!r} ({anc} is not a directory)")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise FotrainError(f"{flag}: cannot create {str(path)!r} (no write permission in {anc})")


def check_out_file(path: str, flag: str = "--out") -> None:
    """Refuse an output file that is a directory or cannot be created.

    Parameters
    ----------
    path : str
        The file the command will write.
    flag : str
        The option that named it (the error's field).

    Raises
    ------
    FotrainError
        ``path`` is a directory, or its parent cannot be created.
    """
    from ..sw.errors import FotrainError

    p = Path(path)
    if p.is_dir():
        raise FotrainError(f"{flag}: {path!r} is a directory, not a file")
    _creatable(p, flag)


def check_out_dir(path: str, flag: str = "--out") -> None:
    """Refuse an output directory that is a file or cannot be created.

    Parameters
    ----------
    path : str
        The directory the command will write into.
    flag : str
        The option that named it (the error's field).

    Raises
    ------
    FotrainError
        ``path`` exists and is not a directory, or cannot be created.
    """
    from ..sw.errors import FotrainError

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise FotrainError(f"{flag}: {path!r} is a file, not a directory")
    _creatable(p, flag)
