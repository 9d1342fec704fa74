"""The backprop reference against central finite differences (TT network and dense MLP)."""

import numpy as np
import pytest

from fotrain.sw.bp import network_grad
from fotrain.sw.config import load_config
from fotrain.sw.losses import loss_per_query
from fotrain.sw.model import init_params, network_forward

SMALL_TT = [
    "layers.0.in_features=12",
    "layers.0.in_modes=[2,3,2]",
    "layers.0.out_modes=[4,2,4]",
    "layers.0.out_features=32",
    "layers.0.ranks=[1,3,2,1]",
    "layers.1.in_features=32",
    "layers.1.in_modes=[2,4,4]",
    "layers.1.out_modes=[1,5,2]",
    "layers.1.ranks=[1,2,3,1]",
]
SMALL_DENSE = ["layers.0.in_features=12", "layers.0.out_features=16", "layers.1.in_features=16"]


@pytest.mark.parametrize(
    "preset, sets, act, loss",
    [
        ("mnist-tt-zo", SMALL_TT, "relu", "ce"),
        ("mnist-tt-zo", SMALL_TT, "tanh", "mse"),
        ("mnist-tt-zo", SMALL_TT, "sin", "ce"),
        ("mnist-dense-bp", SMALL_DENSE, "tanh", "ce"),
        ("mnist-dense-bp", SMALL_DENSE, "relu", "mse"),
    ],
)
def test_gradient_matches_finite_differences(preset, sets, act, loss):
    cfg = load_config(preset).with_overrides(
        [*sets, f"layers.0.activation='{act}'", f"train.loss='{loss}'"]
    )
    rng = np.random.default_rng(0)
    p = init_params(cfg, rng=rng)
    for k in p:
        if k.endswith("bias"):
            p[k] = rng.normal(size=p[k].shape) * 0.1
    x, y = rng.random((5, 12)), rng.integers(0, 10, 5)
    _, g = network_grad(cfg, p, x, y)
    assert set(g) == set(p)
    eps = 1e-6
    for k in p:
        for _ in range(4):
            idx = tuple(int(rng.integers(0, s)) for s in p[k].shape)
            old = p[k][idx]
            p[k][idx] = old + eps
            lp = float(loss_per_query(loss, network_forward(cfg, p, x), y))
            p[k][idx] = old - eps
            lm = float(loss_per_query(loss, network_forward(cfg, p, x), y))
            p[k][idx] = old
            assert g[k][idx] == pytest.approx((lp - lm) / (2 * eps), rel=1e-5, abs=1e-8)
