"""``fotrain demo``: the main job on built-in data (no download).

For now: build the config's first TT layer with Kaiming-initialised cores, run a random batch of
pixel-like inputs (uniform in [0, 1)) through it in float and in bit-exact fixed point, and report
parameters, MACs and the fixed-vs-float error next to its LSB-derived worst-case bound.

Then (:func:`run_pinn_demo`, key ``"pinn"``) a small forward-only HJB-20d training: the
``hjb20-tt`` TT-PINN (1,929 entries), finite-difference derivatives (43 evaluations per point),
antithetic RGE on all parameters, a few dozen Adam steps on fresh collocation points; it reports
the relative L2 error on 2,000 uniform test points before and after, and the network evaluations.
"""

import time
from typing import Any

import numpy as np

from .sw.config import Config, TrainConfig, ZOConfig, load_config
from .sw.errors import ConfigError
from .sw.qformat import OverflowStats
from .sw.tt import tt_fixed_error_bound, tt_forward, tt_forward_fixed, tt_init

__all__ = ["format_demo", "format_pinn_demo", "run_demo", "run_pinn_demo"]


def run_demo(cfg: Config, *, seed: int = 0, batch: int = 64) -> dict[str, Any]:
    """Run the first TT layer of ``cfg`` in float and fixed point; return the measurements."""
    idx = next((i for i, layer in enumerate(cfg.layers) if layer.kind == "tt"), None)
    if idx is None:
        raise ConfigError(f"layers: config {cfg.name!r} has no TT layer to demonstrate")
    layer, f = cfg.layers[idx], cfg.formats
    rng = np.random.default_rng(seed)
    cores = tt_init(layer.in_modes, layer.out_modes, layer.ranks, rng=rng)
    x = rng.random((batch, layer.in_features))
    stats = OverflowStats()
    qcores = [
        f.weight.quantize(g, stats=stats, site=f"quantize.core{k}") for k, g in enumerate(cores)
    ]
    qx = f.act.quantize(x, stats=stats, site="quantize.x")
    y_fixed = f.act.to_float(tt_forward_fixed(qcores, qx, f, stats=stats))
    dq_cores = [f.weight.to_float(g) for g in qcores]
    y_same = tt_forward(dq_cores, f.act.to_float(qx))  # float on the very same (quantized) inputs
    y_float = tt_forward(cores, x)  # float on the unquantized cores and inputs
    return {
        "config": cfg.name,
        "layer": idx,
        "seed": seed,
        "batch": batch,
        "shape": [layer.in_features, layer.out_features],
        "in_modes": list(layer.in_modes),
        "out_modes": list(layer.out_modes),
        "ranks": list(layer.ranks),
        "params": layer.weight_params,
        "dense_params": layer.in_features * layer.out_features,
        "macs_per_sample": layer.macs(1),
        "dense_macs_per_sample": layer.in_features * layer.out_features,
        "formats": {"weight": str(f.weight), "act": str(f.act), "acc": str(f.acc)},
        "output_rms": float(np.sqrt(np.mean(y_float**2))),
        "max_abs_err_same_inputs": float(np.abs(y_fixed - y_same).max()),
        "bound_same_inputs": tt_fixed_error_bound(dq_cores, f),
        "max_abs_err_vs_float": float(np.abs(y_fixed - y_float).max()),
        "rms_err_vs_float": float(np.sqrt(np.mean((y_fixed - y_float) ** 2))),
        "act_lsb": f.act.lsb,
        "overflow_events": stats.total,
        "overflow": stats.report(),
        "pinn": run_pinn_demo(seed=seed),
    }


def run_pinn_demo(
    *, seed: int = 0, steps: int = 30, points: int = 8, queries: int = 4, test_points: int = 2000
) -> dict[str, Any]:
    """Train the HJB TT-PINN forward-only for ``steps`` steps; return rel L2 before/after."""
    from .sw.pinn.method import PINNMethod
    from .sw.pinn.problems import rel_l2

    base = load_config("hjb20-tt")
    cfg = base.replace(
        name="demo-hjb20",
        train=TrainConfig(task="hjb20", method="zo", batch_size=points, optimizer="adam", lr=5e-3),
        zo=ZOConfig(blocks="all", queries=queries, mu=0.01, precision="float32"),
    )
    method = PINNMethod(cfg, seed=seed)
    rng = np.random.default_rng([seed, 7])
    x_test = method.problem.sample_test(test_points, rng=rng)
    u_test = method.problem.exact(x_test)
    before = rel_l2(method.predict(x_test)[:, 0], u_test)
    t0 = time.perf_counter()
    losses = []
    for s in range(steps):
        x = method.problem.sample_collocation(points, rng=rng)
        losses.append(
            method.train_step(x, np.zeros(points, np.int64), step=s, epoch=0, lr=cfg.train.lr)[
                "loss"
            ]
        )
    wall = time.perf_counter() - t0
    summary = method.summary()
    return {
        "problem": "hjb20",
        "params": method.params,
        "steps": steps,
        "points": points,
        "queries": queries,
        "derivatives": summary["derivatives"],
        "evals_per_point": summary["evals_per_point"],
        "network_evals_per_iteration": summary["network_evals_per_iteration"],
        "network_evals_total": method.forward_passes,
        "test_points": test_points,
        "rel_l2_before": before,
        "rel_l2_after": rel_l2(method.predict(x_test)[:, 0], u_test),
        "loss_first": losses[0],
        "loss_last": float(np.mean(losses[-5:])),
        "train_s": wall,
    }


def format_pinn_demo(r: dict[str, Any]) -> str:
    """Render :func:`run_pinn_demo` output as text."""
    return "\n".join(
        [
            f"fotrain demo: HJB-20d TT-PINN ({r['params']:,} entries), {r['steps']} forward-only "
            f"steps, {r['points']} points x {r['evals_per_point']} evaluations "
            f"({r['derivatives']}), "
            f"RGE {r['queries']} antithetic queries",
            f"  network evaluations {r['network_evals_per_iteration']:,} per iteration, "
            f"{r['network_evals_total']:,} in total, {r['train_s']:.1f} s",
            f"  loss {r['loss_first']:.4g} -> {r['loss_last']:.4g}; rel L2 on {r['test_points']:,} "
            f"test points {r['rel_l2_before']:.4g} -> {r['rel_l2_after']:.4g}",
        ]
    )


def format_demo(r: dict[str, Any]) -> str:
    """Render :func:`run_demo` output as text."""
    ratio = r["dense_params"] / r["params"]
    return "\n".join(
        [
            f"fotrain demo: {r['config']} layer {r['layer']}, TT-matrix {r['shape'][0]} -> "
            f"{r['shape'][1]}, modes {r['in_modes']} -> {r['out_modes']}, ranks {r['ranks']}",
            f"  parameters   {r['params']:,} core entries (dense {r['dense_params']:,}, "
            f"{ratio:.0f}x smaller)",
            f"  MACs/sample  {r['macs_per_sample']:,} (dense {r['dense_macs_per_sample']:,})",
            f"  formats      weight {r['formats']['weight']}, act {r['formats']['act']}, "
            f"acc {r['formats']['acc']}",
            f"  batch {r['batch']}, seed {r['seed']}, output rms {r['output_rms']:.4f}",
            "  fixed vs float on the same quantized inputs: max |err| "
            f"{r['max_abs_err_same_inputs']:.3g} <= bound {r['bound_same_inputs']:.3g} "
            f"({r['act_lsb']:.3g} per act LSB)",
            "  fixed vs float on the original float inputs: max |err| "
            f"{r['max_abs_err_vs_float']:.3g}, "
            f"rms {r['rms_err_vs_float']:.3g}",
            f"  {r['overflow']}",
        ]
        + ([format_pinn_demo(r["pinn"])] if "pinn" in r else [])
    )
