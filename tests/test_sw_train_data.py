"""Dataset loading from the original gzip IDX files: shapes, checksums, clear errors."""

import shutil

import numpy as np
import pytest

from fotrain.sw.train.data import DataError, data_dir, load


@pytest.mark.parametrize("name", ["mnist", "fmnist"])
def test_real_datasets_load(name, dataset_root):
    ds = load(name, dataset_root)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert sorted(np.unique(ds.y_test)) == list(range(10))
    assert 0 < ds.x_train.mean() < 255


@pytest.fixture
def mnist_copy(tmp_path, dataset_root):
    """A writable copy of the MNIST files in ``tmp_path / "mnist"``."""
    dst = tmp_path / "mnist"
    shutil.copytree(dataset_root / "mnist", dst)
    for p in dst.iterdir():
        p.chmod(0o644)
    return dst


def test_truncated_file_is_named(tmp_path, mnist_copy):
    dst = mnist_copy
    f = dst / "t10k-labels-idx1-ubyte.gz"
    f.write_bytes(f.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: MD5 .* \(corrupt or trunc"):
        load("mnist", tmp_path)


def test_corrupt_and_missing_files_are_named(tmp_path, mnist_copy):
    dst = mnist_copy
    f = dst / "train-labels-idx1-ubyte.gz"
    data = bytearray(f.read_bytes())
    data[100] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: MD5"):
        load("mnist", tmp_path)
    f.unlink()
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: missing"):
        load("mnist", tmp_path)
    with pytest.raises(DataError, match="task: unknown dataset 'cifar'"):
        load("cifar", tmp_path)


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("FOTRAIN_DATA", str(tmp_path))
    assert data_dir() == tmp_path
    assert data_dir("/x") == data_dir("/x")
    monkeypatch.delenv("FOTRAIN_DATA")
    assert data_dir().name == "fotrain"
