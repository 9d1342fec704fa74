"""``fotrain bench``: benchmarks that print JSON. Timings are measured, never asserted.

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
        "machine": {"python": platform.python_version(), "numpy": np.__version__,
                    "processor": platform.machine()},
        "tt_forward": {"layer": "784->256 [4,7,7,4]->[4,4,4,4] rank 4", "batch": batch,
                       "float_s": t_float, "fixed_s": t_fixed, "ratio_fixed_vs_float":
                       t_fixed / t_float, "goal_ratio_max": 3.0},
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
        return Fxp(acc, signed=True, n_word=f.act.width, n_frac=f.act.frac,
                   rounding="around", overflow="saturate")

    got = theirs()
    agree = bool(np.array_equal(np.asarray(got.val, dtype=np.int64), ours()))
    t_ours = time_best(ours, repeats)
    t_theirs = time_best(theirs, max(3, repeats // 4))
    out["fxpmath"] = {"gemm": [b, k, m], "macs": b * k * m, "fotrain_s": t_ours,
                      "fxpmath_s": t_theirs, "speedup_vs_fxpmath": t_theirs / t_ours,
                      "results_equal": agree, "goal_speedup_min": 100.0}
    return out


def run_bench(what: str, *, batch: int = 256, repeats: int = 20, seed: int = 0) -> dict[str, Any]:
    """Run one named benchmark and return its JSON-ready result."""
    if what == "fixed":
        return _bench_fixed(batch, repeats, seed)
    raise FotrainError(f"bench: unknown benchmark {what!r} (choose from fixed)")
