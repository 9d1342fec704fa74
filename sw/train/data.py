"""MNIST and Fashion-MNIST from the original gzip IDX files, checked by MD5.

Directory resolution: the ``data_dir`` argument (CLI ``--data-dir``), else ``$FOTRAIN_DATA``, else
the cache ``~/.cache/fotrain``. Inside it, each dataset lives in ``mnist/`` or ``fashion-mnist/``
with the four original file names. Every file is MD5-checked before it is parsed; a corrupt,
truncated or mismatching file raises :class:`DataError` naming the file. :func:`download` fetches
missing files into the cache with the same checks (tests and CI never call it).

Images are returned as ``uint8`` arrays of shape ``(n, 784)`` (row-major 28 x 28) and labels as
``int64``; :func:`as_float` scales to ``[0, 1]``.
"""

import gzip
import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import FotrainError

__all__ = ["DATASETS", "DataError", "Dataset", "as_float", "data_dir", "download", "load"]


class DataError(FotrainError):
    """A dataset file is missing, corrupt or truncated."""


#: name -> (subdirectory, mirror base URLs, {file: md5})
DATASETS: dict[str, tuple[str, tuple[str, ...], dict[str, str]]] = {
    "mnist": (
        "mnist",
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fmnist": (
        "fashion-mnist",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
}


@dataclass(frozen=True)
class Dataset:
    """A train/test split: ``uint8`` images ``(n, 784)`` and ``int64`` labels."""

    name: str
    x_train: npt.NDArray[np.uint8]
    y_train: npt.NDArray[np.int64]
    x_test: npt.NDArray[np.uint8]
    y_test: npt.NDArray[np.int64]
    classes: int = 10


def data_dir(explicit: str | Path | None = None) -> Path:
    """The dataset root: ``explicit``, else ``$FOTRAIN_DATA``, else ``~/.cache/fotrain``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("FOTRAIN_DATA")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "fotrain"


def _md5(path: Path) -> str:
    h = hashlib.md5()  # integrity check against the published sums, not security
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_idx(path: Path, magic: int, expected_md5: str) -> np.ndarray:
    if not path.is_file():
        raise DataError(
            f"{path}: missing (run `fotrain download` on a networked machine, "
            "or set --data-dir / FOTRAIN_DATA)"
        )
    digest = _md5(path)
    if digest != expected_md5:
        raise DataError(
            f"{path}: MD5 {digest} != expected {expected_md5} (corrupt or truncated "
            "file; delete it and download again)"
        )
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable gzip file ({e})") from None
    if len(data) < 8 or int.from_bytes(data[:4], "big") != magic:
        raise DataError(f"{path}: bad IDX header (expected magic {magic})")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(shape)):
        raise DataError(
            f"{path}: {len(data) - offset} data bytes, header promises {int(np.prod(shape))}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def load(name: str, directory: str | Path | None = None) -> Dataset:
    """Load ``mnist`` or ``fmnist`` (Fashion-MNIST) from ``data_dir(directory)``."""
    if name not in DATASETS:
        raise DataError(f"task: unknown dataset {name!r} (choose from {', '.join(DATASETS)})")
    sub, _, files = DATASETS[name]
    root = data_dir(directory) / sub
    arrays = {}
    for fname, md5 in files.items():
        magic = 2051 if "images" in fname else 2049
        arrays[fname] = _read_idx(root / fname, magic, md5)
    xtr = arrays["train-images-idx3-ubyte.gz"].reshape(-1, 784)
    xte = arrays["t10k-images-idx3-ubyte.gz"].reshape(-1, 784)
    ytr = arrays["train-labels-idx1-ubyte.gz"].astype(np.int64)
    yte = arrays["t10k-labels-idx1-ubyte.gz"].astype(np.int64)
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise DataError(f"{root}: image and label counts differ")
    return Dataset(name, xtr, ytr, xte, yte)


def as_float(x: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    """Pixels scaled to ``[0, 1]``."""
    return x.astype(np.float64) / 255.0


def download(name: str, directory: str | Path | None = None) -> Path:
    """Fetch missing or corrupt files of ``name`` into ``data_dir(directory)`` (MD5-checked)."""
    if name not in DATASETS:
        raise DataError(f"task: unknown dataset {name!r} (choose from {', '.join(DATASETS)})")
    sub, mirrors, files = DATASETS[name]
    root = data_dir(directory) / sub
    root.mkdir(parents=True, exist_ok=True)
    for fname, md5 in files.items():
        dest = root / fname
        if dest.is_file() and _md5(dest) == md5:
            continue
        errors = []
        for base in mirrors:
            tmp = dest.with_name(dest.name + ".part")
            try:
                with urllib.request.urlopen(base + fname, timeout=60) as r:
                    tmp.write_bytes(r.read())
            except OSError as e:
                errors.append(f"{base}: {e}")
                continue
            if _md5(tmp) == md5:
                tmp.replace(dest)
                break
            errors.append(f"{base}: MD5 mismatch")
            tmp.unlink(missing_ok=True)
        else:
            raise DataError(f"{dest}: download failed ({'; '.join(errors)})")
    return root
