"""Measure the ZO variance claim: RGE quality against the perturbed dimension ``d``.

For a network state and a mini-batch, the true gradient ``g`` comes from the backprop reference;
``R`` independent antithetic Rademacher RGE estimates ``ghat`` with ``Q`` directions perturb
*all* ``d`` trainable entries at once. Reported per network: mean and spread of
``cos(ghat, g)`` and the normalised error ``E||ghat - g||^2 / ||g||^2``. For Rademacher
directions and small ``mu`` theory gives ``E||ghat - g||^2 / ||g||^2 = (d - 1) / Q`` and
``cos ~ sqrt(Q / (Q + d - 1))``: TT compression shrinks ``d`` and with it the error.
"""

from typing import Any

import numpy as np

from ..bp import network_grad
from ..config import Config
from ..losses import loss_per_query
from ..model import init_params, network_forward

__all__ = ["rge_quality"]


def rge_quality(
    cfg: Config,
    x: np.ndarray,
    y: np.ndarray,
    *,
    queries: int,
    repeats: int,
    mu: float,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Cosine and normalised error of all-at-once antithetic RGE for ``cfg``'s network."""
    p = init_params(cfg, rng=rng)
    _, g = network_grad(cfg, p, x, y)
    names = sorted(p)
    gvec = np.concatenate([g[n].ravel() for n in names])
    d = gvec.size
    cos, err = [], []
    for _ in range(repeats):
        est = np.zeros(d)
        for _ in range(queries):
            u = rng.choice(np.array([-1.0, 1.0]), size=d)
            losses = []
            for s in (mu, -mu):
                moved, off = {}, 0
                for n in names:
                    size = p[n].size
                    moved[n] = p[n] + s * u[off : off + size].reshape(p[n].shape)
                    off += size
                losses.append(
                    float(loss_per_query(cfg.train.loss, network_forward(cfg, moved, x), y))
                )
            est += (losses[0] - losses[1]) / (2 * mu) * u
        est /= queries
        cos.append(float(est @ gvec / np.linalg.norm(est) / np.linalg.norm(gvec)))
        err.append(float(np.sum((est - gvec) ** 2) / np.sum(gvec**2)))
    return {
        "name": cfg.name,
        "d": d,
        "queries": queries,
        "repeats": repeats,
        "cos_mean": float(np.mean(cos)),
        "cos_std": float(np.std(cos)),
        "err_mean": float(np.mean(err)),
        "err_theory": (d - 1) / queries,
        "cos_theory": float(np.sqrt(queries / (queries + d - 1))),
    }
