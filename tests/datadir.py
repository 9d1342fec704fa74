"""Where the tests find MNIST / Fashion-MNIST: ``$FOTRAIN_DATA`` (set by ``.ci/run``)."""

import os
from pathlib import Path

import pytest


def dataset_root() -> Path:
    """The dataset root, or skip (with the reason shown) when ``FOTRAIN_DATA`` is unset."""
    env = os.environ.get("FOTRAIN_DATA")
    if not env:
        pytest.skip("FOTRAIN_DATA is not set (CI sets it to the shared datasets folder)")
    root = Path(env)
    assert (root / "mnist").is_dir(), f"FOTRAIN_DATA={env} has no mnist/ folder"
    return root
