"""Fixtures shared by the test files (no test file imports another): the dataset root, the
`fotrain` command in a subprocess, and the tiny configs, networks and tasks several files train."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fotrain.sw.config import Config, LayerConfig, TrainConfig, ZOConfig, load_config
from fotrain.sw.pinn.collocation import Collocation
from fotrain.sw.pinn.stencil import fd_stencil
from fotrain.sw.train.trainer import ClassificationTask


@pytest.fixture(scope="session")
def dataset_root() -> Path:
    """Where the tests find MNIST / Fashion-MNIST: ``$FOTRAIN_DATA``.

    ``.ci/run`` always sets it (to ``../shared/datasets`` next to the checkout when the caller did
    not) and stops when it finds no such folder, so in CI a test needing the data never skips.
    Outside CI an unset variable skips the test with the reason shown (``-ra``); a variable set to
    a folder without ``mnist/`` fails it.
    """
    env = os.environ.get("FOTRAIN_DATA")
    if not env:
        pytest.skip("FOTRAIN_DATA is not set (CI sets it to the shared datasets folder)")
    root = Path(env)
    assert (root / "mnist").is_dir(), f"FOTRAIN_DATA={env} has no mnist/ folder"
    return root


@pytest.fixture
def run_cli(request):
    """``run_cli(*args, env_data=False, env=None, cwd=None, timeout=300)``: ``python -m
    fotrain.cli ARGS`` in a subprocess (real exit status and streams), as a CompletedProcess with
    text stdout/stderr.

    ``env_data=True`` exports ``FOTRAIN_DATA`` = the ``dataset_root`` fixture (and so skips the
    test, with the reason, where that fixture does); ``env`` adds or replaces variables of this
    process's environment.
    """

    def run(
        *args: str,
        env_data: bool = False,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ, **(env or {}))
        if env_data:
            full_env["FOTRAIN_DATA"] = str(request.getfixturevalue("dataset_root"))
        return subprocess.run(
            [sys.executable, "-m", "fotrain.cli", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=cwd,
        )

    return run


TINY_HW = """\
name = "tiny"
[[layers]]
kind = "tt"
in_features = 16
out_features = 12
in_modes = [4, 4]
out_modes = [3, 4]
ranks = [1, 2, 1]
bias = true
activation = "relu"
[hardware]
lanes = 2
"""


@pytest.fixture
def tiny_hw_config(tmp_path) -> str:
    """Path of a TOML config: one 16 -> 12 TT layer (ranks 1-2-1, ReLU) on a 2-lane engine."""
    p = tmp_path / "tiny.toml"
    p.write_text(TINY_HW)
    return str(p)


SMALL_TT_SETS = (
    "layers.0.in_features=12",
    "layers.0.in_modes=[2,3,2]",
    "layers.0.out_modes=[4,2,4]",
    "layers.0.out_features=32",
    "layers.0.ranks=[1,3,2,1]",
    "layers.1.in_features=32",
    "layers.1.in_modes=[2,4,4]",
    "layers.1.out_modes=[1,5,2]",
    "layers.1.ranks=[1,2,3,1]",
)


@pytest.fixture
def small_tt_config():
    """``small_tt_config(*overrides, preset="mnist-tt-1024", activation="tanh")``: a two-layer
    TT net 12 -> 32 -> 10 with biases (the second layer from the preset), first layer activation
    ``activation`` (None: the preset's), then ``overrides``."""

    def build(
        *overrides: str, preset: str = "mnist-tt-1024", activation: str | None = "tanh"
    ) -> Config:
        act = [f"layers.0.activation='{activation}'"] if activation else []
        return load_config(preset).with_overrides([*SMALL_TT_SETS, *act, *overrides])

    return build


@pytest.fixture
def tiny_task():
    """``tiny_task(classes=10, features=12, n=160, n_train=128, spread=30, labels_first=False,
    seed=0)``: a :class:`ClassificationTask` of ``n`` uint8 samples around one random centre per
    class (uniform noise of +-``spread``), the first ``n_train`` for training, the rest for test.

    ``labels_first`` draws the labels before the centres (the local-learning tests' data; the
    default draws the centres first)."""

    def build(
        classes: int = 10,
        features: int = 12,
        n: int = 160,
        n_train: int = 128,
        spread: int = 30,
        labels_first: bool = False,
        seed: int = 0,
    ) -> ClassificationTask:
        rng = np.random.default_rng(seed)
        if labels_first:
            y = rng.integers(0, classes, n)
            centers = rng.integers(0, 256, (classes, features))
        else:
            centers = rng.integers(0, 256, size=(classes, features))
            y = rng.integers(0, classes, n)
        x = np.clip(centers[y] + rng.integers(-spread, spread, size=(n, features)), 0, 255).astype(
            np.uint8
        )
        return ClassificationTask(
            "tiny", x[:n_train], y[:n_train], x[n_train:], y[n_train:], classes=classes
        )

    return build


def _dense(i: int, o: int, act: str = "tanh") -> dict:
    return {"kind": "dense", "in_features": i, "out_features": o, "bias": True, "activation": act}


@pytest.fixture
def dense():
    """``dense(in, out, act="tanh")``: the dict of one dense layer with a bias."""
    return _dense


@pytest.fixture
def make_cfg():
    """``make_cfg(method="tpsgd", layers=None, local=None, train=None)``: a float64 local-learning
    config, by default the MLP 6 -> 5 -> 4 -> 3 (tanh, tanh, none), no cosine logging."""

    def build(
        method: str = "tpsgd",
        layers: list | None = None,
        local: dict | None = None,
        train: dict | None = None,
    ) -> Config:
        return Config.from_dict(
            {
                "name": "t",
                "layers": layers or [_dense(6, 5), _dense(5, 4), _dense(4, 3, "none")],
                "train": {"method": method, **(train or {})},
                "local": {"dtype": "float64", "cosine_every": 0, **(local or {})},
            }
        )

    return build


FIXED_FORMATS = {
    "weight": {"width": 16, "frac": 13, "rounding": "RND", "overflow": "SAT"},
    "act": {"width": 16, "frac": 11, "rounding": "RND", "overflow": "SAT"},
    "acc": {"width": 48, "frac": 24, "rounding": "RND", "overflow": "SAT"},
}


@pytest.fixture
def make_fixed_cfg():
    """``make_fixed_cfg(numerics="fixed", method="tpsgd", local=None, **train)``: a local-learning
    config on the MLP 16 -> 12 -> 8 -> 3 with 16-bit weights/activations (Q2.13 / Q4.11, 48-bit
    accumulator), SGD at lr 0.5, batch 8, nearest update rounding, target amplitude 1.5."""

    def build(
        numerics: str = "fixed", method: str = "tpsgd", local: dict | None = None, **train
    ) -> Config:
        return Config.from_dict(
            {
                "name": "t",
                "layers": [_dense(16, 12), _dense(12, 8), _dense(8, 3, "none")],
                "formats": FIXED_FORMATS,
                "train": {
                    "method": method,
                    "numerics": numerics,
                    "optimizer": "sgd",
                    "lr": 0.5,
                    "batch_size": 8,
                    **train,
                },
                "local": {
                    "dtype": "float64",
                    "cosine_every": 0,
                    "fixed_update": "nearest",
                    "target_amp": 1.5,
                    **(local or {}),
                },
            }
        )

    return build


@pytest.fixture
def tiny_pinn():
    """``tiny_pinn(task="hjb20", method="zo", numerics="float", blocks="core", **zo)``: the HJB
    network shape at toy size, 21 -> 16 (TT rank 2, sin) -> 1; batch 3, 4 steps, 4 queries."""

    def build(
        task: str = "hjb20", method: str = "zo", numerics: str = "float", blocks: str = "core", **zo
    ) -> Config:
        layers = (
            LayerConfig(
                21,
                16,
                in_modes=(1, 3, 7),
                out_modes=(4, 2, 2),
                ranks=(1, 2, 2, 1),
                bias=True,
                activation="sin",
            ),
            LayerConfig(16, 1, kind="dense", bias=True),
        )
        return Config(
            name="tiny-pinn",
            layers=layers,
            train=TrainConfig(
                task=task,
                method=method,
                numerics=numerics,
                batch_size=3,
                lr=1e-2,
                max_steps=4,
                log_every=1,
            ),
            zo=ZOConfig(blocks=blocks, queries=4, precision="float64", fixed_mu_lsb=16, **zo),
        )

    return build


@pytest.fixture
def boundary_col():
    """``boundary_col(problem, n_interior=3, nb=2, weight=0.5)``: a :class:`Collocation` of
    ``n_interior`` random interior points (finite-difference stencil, h = 0.1) and ``nb`` points
    on the lateral faces with boundary weight ``weight``."""

    def build(problem, n_interior: int = 3, nb: int = 2, weight: float = 0.5) -> Collocation:
        rng = np.random.default_rng(12)
        x = np.concatenate([rng.random((n_interior, 21)), problem.sample_boundary(nb, rng=rng)])
        return Collocation(problem, fd_stencil(21, 0.1, problem.laplacian_axes), x, nb, weight)

    return build
