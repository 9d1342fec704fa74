"""``fotrain bench``: benchmarks that print JSON. Timings are measured, never asserted.

``zo``: one ZO step of the ``mnist-tt-zo`` preset (its estimator as configured, all its perturbed
forwards, the Adam update) in fotrain against a straightforward PyTorch-CPU implementation of the
same step; key ``ratio_vs_torch`` (goal <= 1.0, fotrain faster). Needs ``torch`` (CPU build).

``fixed``: (1) fixed-point TT forward (:func:`tt_forward_fixed`) against the float TT forward
(:func:`tt_forward`) on the default 784 -> 256 layer, goal ratio <= 3; (2) fotrain's fixed-point
multiply-accumulate (:func:`dense_forward_fixed`: exact products, accumulate, round once into the
activation format) against fxpmath doing the same (``Fxp.dot`` then a rounding resize to the
same format) on the same integer codes, goal >= 100x. Results are checked equal before timing.
"""

import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .sw.config import Config
from .sw.dense import dense_forward_fixed
from .sw.errors import FotrainError
from .sw.tt import tt_forward, tt_forward_fixed, tt_init

__all__ = ["run_bench", "time_best"]


def time_best(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` calls after one warm-up call (seconds)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _bench_fixed(batch: int, repeats: int, seed: int) -> dict[str, Any]:
    cfg = Config()
    layer, f = cfg.layers[0], cfg.formats
    rng = np.random.default_rng(seed)
    cores = tt_init(layer.in_modes, layer.out_modes, layer.ranks, rng=rng)
    x = rng.random((batch, layer.in_features))
    qcores = [f.weight.quantize(g) for g in cores]
    qx = f.act.quantize(x)
    t_float = time_best(lambda: tt_forward(cores, x), repeats)
    t_fixed = time_best(lambda: tt_forward_fixed(qcores, qx, f), repeats)
    out: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "processor": platform.machine(),
        },
        "tt_forward": {
            "layer": "784->256 [4,7,7,4]->[4,4,4,4] rank 4",
            "batch": batch,
            "float_s": t_float,
            "fixed_s": t_fixed,
            "ratio_fixed_vs_float": t_fixed / t_float,
            "goal_ratio_max": 3.0,
        },
    }
    # The same fixed-point MAC in fxpmath: a (B x K) @ (K x M) product of 16-bit codes, rounded
    # once into the activation format. Sizes are kept small because fxpmath is slow.
    try:
        from fxpmath import Fxp
    except ImportError:
        out["fxpmath"] = {"skipped": "fxpmath is not installed (pip install 'fotrain[bench]')"}
        return out
    b, k, m = 64, 256, 64
    a = f.act.random_codes(rng, (b, k))
    w = f.weight.random_codes(rng, (m, k))

    def ours():
        return dense_forward_fixed(w, a, f)

    fa = Fxp(f.act.to_float(a), signed=True, n_word=f.act.width, n_frac=f.act.frac)
    fw = Fxp(f.weight.to_float(w).T, signed=True, n_word=f.weight.width, n_frac=f.weight.frac)

    def theirs():
        acc = fa.dot(fw)
        return Fxp(
            acc,
            signed=True,
            n_word=f.act.width,
            n_frac=f.act.frac,
            rounding="around",
            overflow="saturate",
        )

    got = theirs()
    agree = bool(np.array_equal(np.asarray(got.val, dtype=np.int64), ours()))
    t_ours = time_best(ours, repeats)
    t_theirs = time_best(theirs, max(3, repeats // 4))
    out["fxpmath"] = {
        "gemm": [b, k, m],
        "macs": b * k * m,
        "fotrain_s": t_ours,
        "fxpmath_s": t_theirs,
        "speedup_vs_fxpmath": t_theirs / t_ours,
        "results_equal": agree,
        "goal_speedup_min": 100.0,
    }
    return out


def _torch_zo_step(
    cfg: Config, params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, seed: int
):
    """A straightforward PyTorch-CPU version of the same ZO step.

    Same network, same estimator (antithetic Rademacher RGE, one parameter array per block,
    ``Q`` directions), same Adam update. Per block, the ``2Q`` perturbed networks run as one
    batched computation over stacked perturbed cores (``einsum`` per core: the input contracted
    with one core after another, left to right, as the golden model's reference TT-matrix
    forward does); no shared-prefix or linearity shortcut.
    """
    import torch

    zo, q = cfg.zo, cfg.zo.queries
    gen = torch.Generator().manual_seed(seed)
    p = {k: torch.tensor(v, dtype=torch.float32) for k, v in params.items()}
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y)

    def forward(stacked: dict[str, torch.Tensor], s: int) -> torch.Tensor:
        h = xt.expand(s, *xt.shape)
        for i, layer in enumerate(cfg.layers):
            ns = list(layer.in_modes)
            b = h.shape[1]
            t = h.reshape(s, b, 1, ns[0], -1, 1)
            for k in range(len(ns)):
                g = stacked[f"{i}.core{k}"]
                g = g if g.dim() == 5 else g.expand(s, *g.shape)
                t = torch.einsum("qaibcd,qdbef->qaiecf", t, g)
                qq, a, ii, m, j, r = t.shape
                if k + 1 < len(ns):
                    t = t.reshape(qq, a, ii * m, ns[k + 1], j // ns[k + 1], r)
            z = t.reshape(s, b, -1)
            bias = stacked[f"{i}.bias"]
            z = z + (bias if bias.dim() == 2 else bias.expand(s, -1))[:, None, :]
            h = torch.relu(z) if layer.activation == "relu" else z
        return h

    grads = {}
    with torch.no_grad():
        for name in sorted(p):
            u = torch.randint(0, 2, (q, *p[name].shape), generator=gen).float() * 2 - 1
            stacked = dict(p)
            stacked[name] = torch.cat([p[name] + zo.mu * u, p[name] - zo.mu * u])
            out = forward(stacked, 2 * q)
            losses = torch.stack([torch.nn.functional.cross_entropy(o, yt) for o in out])
            coef = (losses[:q] - losses[q:]) / (2 * zo.mu)
            grads[name] = torch.tensordot(coef, u, dims=1) / q
        opt = torch.optim.Adam(list(p.values()), lr=cfg.train.lr)
        for name, v in p.items():
            v.grad = grads[name]
        opt.step()
    return p


def _bench_zo(batch: int, repeats: int, seed: int) -> dict[str, Any]:
    from .sw.config import load_config
    from .sw.zo.method import ZOMethod

    cfg = load_config("mnist-tt-zo").with_overrides([f"train.batch_size={batch}"])
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 784))
    y = rng.integers(0, 10, batch)
    method = ZOMethod(cfg, seed=seed)
    counter = iter(range(10**9))
    t_ours = time_best(
        lambda: method.train_step(x, y, step=next(counter), epoch=0, lr=1e-3), repeats
    )
    out: dict[str, Any] = {
        "preset": "mnist-tt-zo",
        "batch": batch,
        "blocks": len(method.blocks),
        "queries": cfg.zo.queries,
        "forwards_per_step": 1 + 2 * cfg.zo.queries * len(method.blocks),
        "fotrain_s": t_ours,
    }
    try:
        import torch
    except ImportError:
        out["torch"] = {
            "skipped": "torch is not installed (pip install torch==2.13.0, a CPU "
            "build, then the bench extra)"
        }
        return out
    params = {k: v.copy() for k, v in method.p.items()}
    t_torch = time_best(lambda: _torch_zo_step(cfg, params, x, y, seed), max(1, repeats // 2))
    out.update(
        {
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "torch_s": t_torch,
            "ratio_vs_torch": t_ours / t_torch,
            "goal_ratio_max": 1.0,
        }
    )
    return out


def run_bench(what: str, *, batch: int = 256, repeats: int = 20, seed: int = 0) -> dict[str, Any]:
    """Run one named benchmark and return its JSON-ready result."""
    if what == "fixed":
        return _bench_fixed(batch, repeats, seed)
    if what == "zo":
        return _bench_zo(batch, repeats, seed)
    raise FotrainError(f"bench: unknown benchmark {what!r} (choose from fixed, zo)")
