"""Zeroth-order gradient estimators over TT-core space (float), and the ZO training method.

Notation: parameters ``theta`` split into *blocks* (``zo.blocks``: one TT core / weight matrix /
bias vector each, one layer, or all), ``Q = zo.queries`` directions ``u_q`` per block, smoothing
``mu``, mini-batch loss ``L``.

- RGE antithetic: ``g = (1/Q) sum_q (L(theta + mu u_q) - L(theta - mu u_q)) / (2 mu) u_q``
  (``2Q`` evaluations per block); one-sided: ``(L(theta + mu u_q) - L(theta)) / mu u_q``
  (``Q`` per block, ``L(theta)`` shared). ``scale = "dim"`` multiplies by ``Q / (Q + d - 1)``.
- CGE: ``u_q`` are the unit vectors of the block (all, or ``cge_coords`` sampled), each
  ``(L(+mu e_j) - L(-mu e_j)) / (2 mu)``.
- SCD (parallel): for a random ``1 - scd_sparsity`` share of coordinates try ``+scd_lr``, keep it
  if the mini-batch loss drops, else try ``-scd_lr`` (the "STP" rule); all kept steps are applied
  together after the evaluation. (The 2023 reference code visits coordinates one after another;
  the parallel form evaluates every candidate from the same ``theta`` in one batched pass.)
- Hybrid: RGE until ``zo.switch_epoch``, then SCD.

Directions: Rademacher from the hardware LFSR model (``zo.hardware_prng``; the seed of block ``b``
of step ``s``, query ``q`` is ``query_seed(seed, s * n_blocks + b, q)``), or from numpy, or
Gaussian. All ``Q`` (or ``2Q``) perturbed forwards of a block run as one batched computation:
a layer's pre-activation is linear in each of its cores, so with core ``k`` perturbed,
``z(G_k + mu U) = z + mu * dz(U)`` where ``dz`` contracts the cached input of core ``k`` with the
stacked directions and runs the remaining cores once for all queries (exact up to float
rounding); the layers above then see ``2Q x B`` samples in one pass.
"""

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from ..config import Config
from ..losses import loss_per_query
from ..model import activate, dense_equivalents, network_forward, param_names
from ..perturb import query_seed, rademacher
from ..train.method import step_rng
from ..train.network import NetworkMethod
from ..tt import contract_from, core_matrix, stack_queries

__all__ = ["ZOMethod", "block_plan", "directions", "perturbed_losses", "right_environment"]

FloatArray = npt.NDArray[np.float64]


def block_plan(cfg: Config, names: list[str]) -> list[list[str]]:
    """Parameter-name groups perturbed together (``zo.blocks``; biases per ``perturb_bias``)."""
    names = [n for n in names if cfg.zo.perturb_bias or not n.endswith(".bias")]
    if cfg.zo.blocks == "all":
        return [names]
    if cfg.zo.blocks == "layer":
        layers: dict[str, list[str]] = {}
        for n in names:
            layers.setdefault(n.split(".")[0], []).append(n)
        return list(layers.values())
    return [[n] for n in names]


def directions(
    cfg: Config, shape: tuple[int, ...], q: int, *, seed: int, stream: int, rng: np.random.Generator
) -> FloatArray:
    """``q`` directions of ``shape`` (``(q, *shape)``), per ``zo.distribution``."""
    size = math.prod(shape)
    if cfg.zo.distribution == "gaussian":
        return rng.standard_normal((q, *shape))
    if cfg.zo.hardware_prng:
        seeds = [query_seed(seed, stream, i, cfg.hardware.prng_width) for i in range(q)]
        return (
            rademacher(seeds, size, cfg.hardware.prng_width).astype(np.float64).reshape((q, *shape))
        )
    return rng.choice(np.array([-1.0, 1.0]), size=(q, *shape))


def _delta_z(
    cfg: Config, params: dict[str, FloatArray], caches: dict[int, Any], name: str, u: FloatArray
) -> FloatArray:
    """Change of layer ``l``'s pre-activation per unit step along each direction: ``(Q, B, M)``."""
    i = int(name.split(".")[0])
    layer, c = cfg.layers[i], caches[i]
    q = u.shape[0]
    batch = c["h"].shape[0]
    if name.endswith(".bias"):
        return np.broadcast_to(u[:, None, :], (q, batch, u.shape[1]))
    if name.endswith(".w"):
        return np.einsum("bi,qoi->qbo", c["h"], u, optimize=True)
    k = int(name.split("core")[1])
    cores = [params[f"{i}.core{j}"] for j in range(len(layer.in_modes))]
    if k < len(cores) - 1:
        return _delta_z_env(cores, k, c["T"][k], u, batch)
    return _delta_z_suffix(cores, k, c["T"][k], u, batch)


def _delta_z_suffix(cores, k, t_in, u, batch):
    """``dz`` by running the stacked perturbed core outputs through cores ``k+1..d``."""
    q = u.shape[0]
    r0, n, m, r1 = cores[k].shape
    u_mats = u.reshape(q, r0 * n, m * r1).transpose(0, 2, 1)
    out = np.matmul(u_mats, t_in)  # (Q, m r1, rest * I * B)
    rest = math.prod(g.shape[1] for g in cores[k + 1 :])
    i_done = math.prod(g.shape[2] for g in cores[:k])
    t = stack_queries(out, q, m, r1, rest, batch, i_done)
    mats = [core_matrix(g) for g in cores]
    z = contract_from(
        cores, t, q * batch, lambda mat, j: mats[j] @ mat, k0=k + 1, i_done=i_done * m
    )
    return z.reshape(q, batch, -1)


def right_environment(cores, k: int) -> FloatArray:
    """``R[a_k, j_{k+1}..j_d, i_{k+1}..i_d]``: cores ``k+1..d`` contracted, ``(r_k, N_>, M_>)``."""
    g = cores[-1]
    env = g.reshape(g.shape[0], g.shape[1], g.shape[2])
    for g in cores[k + 1 : -1][::-1]:
        r0, n, m, r1 = g.shape
        env = np.einsum("ajib,bJI->ajJiI", g, env, optimize=True)
        env = env.reshape(r0, n * env.shape[2], m * env.shape[4])
    return env


def _delta_z_env(cores, k, t_in, u, batch):
    """``dz`` through environments: ``E = L_k x R_k`` is formed once, then one GEMM for all
    queries, ``dz_q[b, I_<, i_k, I_>] = sum_{a j a'} U_q[a, j, i_k, a'] E[a j, I_<, b, a', I_>]``.
    Same numbers as :func:`_delta_z_suffix` with far less memory traffic for the early cores."""
    q = u.shape[0]
    r0, n, m, r1 = cores[k].shape
    env = right_environment(cores, k)  # (r1, rest, M_>)
    rest, m_right = env.shape[1], env.shape[2]
    i_done = math.prod(g.shape[2] for g in cores[:k])
    ib = i_done * batch
    left = t_in.reshape(r0 * n, rest, ib).transpose(0, 2, 1).reshape(r0 * n * ib, rest)
    e = left @ env.transpose(1, 0, 2).reshape(rest, r1 * m_right)  # (rn, I_<, b, r1, M_>)
    e = e.reshape(r0 * n, i_done, batch, r1, m_right).transpose(0, 3, 1, 2, 4)
    e = np.ascontiguousarray(e).reshape(r0 * n * r1, ib * m_right)
    u_rows = u.reshape(q, r0 * n, m, r1).transpose(0, 2, 1, 3).reshape(q * m, r0 * n * r1)
    dz = (u_rows @ e).reshape(q, m, i_done, batch, m_right)
    return np.ascontiguousarray(dz.transpose(0, 3, 2, 1, 4)).reshape(q, batch, -1)


def perturbed_losses(
    cfg: Config,
    params: dict[str, FloatArray],
    caches: dict[int, Any],
    x: FloatArray,
    y: npt.NDArray[np.int64],
    block: list[str],
    u: dict[str, FloatArray],
    steps: FloatArray,
    dense: dict[int, FloatArray] | None = None,
) -> FloatArray:
    """Loss at ``theta + s * u_q`` for each step size ``s`` in ``steps`` and query ``q``.

    Returns ``(len(steps), Q)``. Single-array blocks use the linear shortcut of the module
    docstring; multi-array blocks run one batched forward per query from the block's first layer.
    """
    loss_kind = cfg.train.loss
    q = next(iter(u.values())).shape[0]
    if len(block) == 1:
        name = block[0]
        i = int(name.split(".")[0])
        dz = _delta_z(cfg, params, caches, name, u[name])
        z = caches[i]["z"][None, None] + steps[:, None, None, None] * dz[None]
        h = activate(cfg.layers[i].activation, z)
        s, _, b, m = h.shape
        out = network_forward(cfg, params, h.reshape(s * q * b, m), start=i + 1, dense=dense)
        return loss_per_query(loss_kind, out.reshape(s, q, b, -1), y)
    first = min(int(n.split(".")[0]) for n in block)
    h0 = caches[first]["h"]
    losses = np.empty((len(steps), q))
    for a, step in enumerate(steps):
        for j in range(q):
            moved = dict(params)
            for n in block:
                moved[n] = params[n] + step * u[n][j]
            out = network_forward(cfg, moved, h0, start=first)
            losses[a, j] = loss_per_query(loss_kind, out, y)
    return losses


class ZOMethod(NetworkMethod):
    """Forward-only training with the estimators above and the configured optimiser."""

    def __init__(self, cfg: Config, *, seed: int):
        super().__init__(cfg, seed=seed)
        self.blocks = block_plan(cfg, param_names(cfg))

    def _estimator(self, epoch: int) -> str:
        if self.cfg.train.method == "hybrid":
            return "rge" if epoch < self.cfg.zo.switch_epoch else "scd"
        return self.cfg.zo.estimator

    def train_step(
        self, x: FloatArray, y: npt.NDArray[np.int64], *, step: int, epoch: int, lr: float
    ) -> dict[str, float]:
        cfg, zo = self.cfg, self.cfg.zo
        rng = step_rng(self.seed, step)
        dt = np.dtype(zo.precision)
        p = {k: v.astype(dt) for k, v in self.p.items()}  # the forwards' working copy
        x = x.astype(dt)
        caches: dict[int, Any] = {}
        base_out = network_forward(cfg, p, x, caches=caches)
        base = float(loss_per_query(cfg.train.loss, base_out, y))
        dense = dense_equivalents(cfg, p)
        self._forward += 1
        est = self._estimator(epoch)
        grads: dict[str, FloatArray] = {}
        scd_steps: dict[str, FloatArray] = {}
        for b, block in enumerate(self.blocks):
            stream = step * len(self.blocks) + b
            if est == "rge":
                u = {
                    n: directions(
                        cfg,
                        self.p[n].shape,
                        zo.queries,
                        seed=self.seed,
                        stream=stream * len(block) + j,
                        rng=rng,
                    ).astype(dt)
                    for j, n in enumerate(block)
                }
                if zo.sided == "antithetic":
                    ls = perturbed_losses(
                        cfg, p, caches, x, y, block, u, np.array([zo.mu, -zo.mu], dt), dense
                    )
                    ls = ls.astype(np.float64)
                    coef = (ls[0] - ls[1]) / (2 * zo.mu)
                    self._forward += 2 * zo.queries
                else:
                    ls = perturbed_losses(
                        cfg, p, caches, x, y, block, u, np.array([zo.mu], dt), dense
                    ).astype(np.float64)
                    coef = (ls[0] - base) / zo.mu
                    self._forward += zo.queries
                shrink = 1.0
                if zo.scale == "dim":
                    d = sum(self.p[n].size for n in block)
                    shrink = zo.queries / (zo.queries + d - 1)
                for n in block:
                    grads[n] = (
                        shrink * np.tensordot(coef, u[n].astype(np.float64), axes=1) / zo.queries
                    )
            else:
                for n in block:
                    if est == "cge":
                        grads[n] = self._cge(p, caches, x, y, n, rng)
                    else:
                        scd_steps[n] = self._scd(p, caches, x, y, n, base, rng)
        if grads:
            self.opt.step(self.p, grads, lr)
        out = {"loss": base}
        if scd_steps:  # applied together, after every block was tried from the same theta
            for n, delta in scd_steps.items():
                self.p[n] += delta
            out["scd_accepted"] = float(sum(np.count_nonzero(d) for d in scd_steps.values()))
        return out

    def _coords(self, n: str, count: int, rng: np.random.Generator) -> npt.NDArray[np.intp]:
        size = self.p[n].size
        if count and count < size:
            return np.sort(rng.choice(size, size=count, replace=False))
        return np.arange(size)

    def _unit_batches(self, n: str, coords: npt.NDArray[np.intp], chunk: int = 64):
        for s in range(0, len(coords), chunk):
            idx = coords[s : s + chunk]
            u = np.zeros((len(idx), self.p[n].size), np.dtype(self.cfg.zo.precision))
            u[np.arange(len(idx)), idx] = 1.0
            yield idx, u.reshape((len(idx), *self.p[n].shape))

    def _cge(self, p, caches, x, y, n, rng) -> FloatArray:
        mu = self.cfg.zo.mu
        g = np.zeros(self.p[n].size)
        for idx, u in self._unit_batches(n, self._coords(n, self.cfg.zo.cge_coords, rng)):
            ls = perturbed_losses(
                self.cfg, p, caches, x, y, [n], {n: u}, np.array([mu, -mu], u.dtype)
            ).astype(np.float64)
            g[idx] = (ls[0] - ls[1]) / (2 * mu)
            self._forward += 2 * len(idx)
        return g.reshape(self.p[n].shape)

    def _scd(self, p, caches, x, y, n, base, rng) -> FloatArray:
        zo = self.cfg.zo
        size = self.p[n].size
        count = max(1, int(round((1 - zo.scd_sparsity) * size)))
        coords = self._coords(n, count, rng)
        delta = np.zeros(size)
        for idx, u in self._unit_batches(n, coords):
            ls = perturbed_losses(
                self.cfg, p, caches, x, y, [n], {n: u}, np.array([zo.scd_lr, -zo.scd_lr], u.dtype)
            ).astype(np.float64)
            self._forward += 2 * len(idx)  # the "-" trial is only needed where "+" failed
            plus = ls[0] < base
            minus = ~plus & (ls[1] < base)
            delta[idx] = np.where(plus, zo.scd_lr, np.where(minus, -zo.scd_lr, 0.0))
        return delta.reshape(self.p[n].shape)
