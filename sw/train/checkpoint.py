"""Crash-safe files of a run directory: checkpoints, atomic text files, the metrics log.

Every file the trainer replaces is written to a temporary sibling, flushed to disk and renamed
over the old one (``os.replace`` is atomic on POSIX), then the directory is synced so the rename
itself survives a power loss; a reader therefore sees the old file or the new one, never a mix.
``metrics.jsonl`` is the one file that grows by appends: a killed process can leave a partial
last line, and lines written after the last checkpoint; :func:`read_metrics` drops the first and
:class:`~.trainer.Trainer` drops the second when it resumes. Checkpoints are plain ``.npz``
arrays, loaded with ``allow_pickle=False``.
"""

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..errors import FotrainError

__all__ = [
    "CheckpointError",
    "check_against",
    "fsync_dir",
    "load_checkpoint",
    "read_metrics",
    "save_checkpoint",
    "write_text_atomic",
]


class CheckpointError(FotrainError):
    """A checkpoint is unreadable, truncated, pickled, or does not match the config."""


def fsync_dir(path: Path) -> None:
    """Flush the directory entry changes (renames, new files) of ``path`` to disk.

    Parameters
    ----------
    path : Path
        A directory.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` atomically (temporary file, fsync, rename, directory sync).

    Parameters
    ----------
    path : Path
        The file to (re)write.
    text : str
        Its new content (UTF-8).
    """
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)


def save_checkpoint(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` as an ``.npz`` atomically (temporary file, fsync, rename).

    Parameters
    ----------
    path : Path
        The checkpoint file.
    arrays : dict of str to ndarray
        What it holds (plain numeric arrays only).
    """
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        # cast: mypy would match ``**arrays`` against savez's ``allow_pickle: bool`` keyword too
        np.savez(f, **cast(dict[str, Any], arrays))
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)


def load_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """Read a checkpoint without pickle; refuse unreadable, truncated or object-bearing files.

    Parameters
    ----------
    path : Path
        The checkpoint file.

    Returns
    -------
    dict of str to ndarray
        Its arrays.

    Raises
    ------
    CheckpointError
        Missing, truncated, corrupt or pickled.
    """
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint to resume from")
    try:
        data = path.read_bytes()
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise CheckpointError(f"{path}: holds pickled objects; refusing to load it") from None
        raise CheckpointError(f"{path}: unreadable checkpoint ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({e})") from None


def check_against(
    saved: dict[str, np.ndarray],
    expected: dict[str, np.ndarray],
    path: Path,
    prefix: str,
    ragged: tuple[str, ...] = (),
) -> None:
    """Refuse a checkpoint whose arrays under ``prefix`` differ from ``expected`` in name,
    dtype or shape (the shapes of the names in ``ragged`` may differ).

    Parameters
    ----------
    saved : dict of str to ndarray
        The checkpoint's arrays.
    expected : dict of str to ndarray
        The arrays this config produces, without the prefix.
    path : Path
        The checkpoint (for the message).
    prefix : str
        ``"method/"`` or ``"trainer/"``.
    ragged : tuple of str
        Names whose length varies (the trainer's running loss window).

    Raises
    ------
    CheckpointError
        Naming the first mismatch.
    """
    # overflow counters ("overflow/<site>") appear as sites are first used: not part of the match
    names = {
        k[len(prefix) :]
        for k in saved
        if k.startswith(prefix) and not k.startswith(prefix + "overflow/")
    }
    expected = {k: v for k, v in expected.items() if not k.startswith("overflow/")}
    if names != set(expected):
        missing = sorted(set(expected) - names)
        extra = sorted(names - set(expected))
        raise CheckpointError(
            f"{path}: arrays do not match the config (missing {missing[:3]}, "
            f"unexpected {extra[:3]})"
        )
    for name, ref in expected.items():
        got = saved[prefix + name]
        shape_ok = name in ragged or got.shape == ref.shape
        if not shape_ok or got.dtype != ref.dtype:
            raise CheckpointError(
                f"{path}: array {name!r} is {got.dtype}{list(got.shape)}, "
                f"the config needs {ref.dtype}{list(ref.shape)}"
            )


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl``, without a partial last line a kill may leave.

    Parameters
    ----------
    path : Path
        The file (absent: no records).

    Returns
    -------
    list of dict
        One dict per complete line.
    """
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if not line.endswith("\n") or not line.strip():
            continue  # the unfinished append of a killed process, or a blank line
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn line (the rest of it never reached the disk)
    return out
