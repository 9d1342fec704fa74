"""``fotrain study``: measurements written as JSON and PNG plots (matplotlib lives here, not in sw).

``variance``: RGE quality against the perturbed dimension for the MNIST network 784-1024-10 as
TT-matrix layers of rank 1..8 and as the dense network it compresses (see
:mod:`fotrain.sw.studies.variance`).

``pinn-noise``: the fixed-vs-float error of a PINN preset's derivative estimates and residual
against the word length (see :mod:`~fotrain.sw.studies.pinn_noise`): why fixed-point PINN training
needs more bits than classification.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_pinn_noise_study", "run_variance_study"]


def _mkdir(out: Path) -> None:
    from .sw.errors import FotrainError

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FotrainError(f"--out: cannot create {str(out)!r} ({e.strerror})") from None


def run_variance_study(
    out: Path,
    *,
    queries: int = 10,
    repeats: int = 10,
    batch: int = 64,
    seed: int = 0,
    data_dir: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the study, write ``variance.json`` and ``variance.png`` into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tqdm import tqdm

    from .sw.config import load_config
    from .sw.studies.variance import rge_quality
    from .sw.train.data import as_float, load

    _mkdir(out)
    ds = load("mnist", data_dir)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(ds.y_train), size=batch, replace=False)
    x, y = as_float(ds.x_train[idx]), ds.y_train[idx]
    nets = [
        (
            f"TT rank {r}",
            load_config("mnist-tt-1024")
            .with_overrides([f"layers.0.ranks={r}", f"layers.1.ranks={r}"])
            .replace(name=f"tt-rank{r}"),
        )
        for r in (1, 2, 4, 6, 8)
    ]
    nets.append(("dense", load_config("mnist-dense-bp")))
    rows = []
    for label, cfg in tqdm(nets, disable=not progress, desc="variance study"):
        r = rge_quality(
            cfg,
            x,
            y,
            queries=queries,
            repeats=repeats,
            mu=1e-3,
            rng=np.random.default_rng([seed, len(rows)]),
        )
        r["label"] = label
        rows.append(r)
    result = {"queries": queries, "repeats": repeats, "batch": batch, "seed": seed, "rows": rows}
    (out / "variance.json").write_text(json.dumps(result, indent=2) + "\n")
    d = np.array([r["d"] for r in rows], float)
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].errorbar(
        d,
        [r["cos_mean"] for r in rows],
        yerr=[r["cos_std"] for r in rows],
        fmt="o",
        label="measured",
    )
    grid = np.logspace(np.log10(d.min()) - 0.2, np.log10(d.max()) + 0.2, 100)
    ax[0].plot(grid, np.sqrt(queries / (queries + grid - 1)), "--", label="sqrt(Q/(Q+d-1))")
    ax[1].loglog(d, [r["err_mean"] for r in rows], "o", label="measured")
    ax[1].loglog(grid, (grid - 1) / queries, "--", label="(d-1)/Q")
    for a, ylabel in zip(
        ax, ("cos(ZO estimate, true gradient)", "E|g_hat - g|^2 / |g|^2"), strict=True
    ):
        a.set_xscale("log")
        a.set_xlabel("perturbed dimension d (trainable entries)")
        a.set_ylabel(ylabel)
        a.grid(True, which="both", alpha=0.3)
        a.legend()
    for r in rows:
        ax[0].annotate(
            r["label"],
            (r["d"], r["cos_mean"]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=8,
        )
    fig.suptitle(
        f"Antithetic Rademacher RGE, all entries at once, Q = {queries}, "
        f"{repeats} repeats, MNIST batch {batch}"
    )
    fig.tight_layout()
    fig.savefig(out / "variance.png", dpi=120)
    plt.close(fig)
    return result


def run_pinn_noise_study(
    out: Path,
    *,
    preset: str = "hjb20-tt-zo-fixed16",
    bits: tuple[int, ...] = (10, 12, 14, 16, 18, 20, 22),
    points: int = 256,
    seed: int = 0,
    overrides: tuple[str, ...] = (),
    progress: bool = True,
) -> dict[str, Any]:
    """Measure :func:`estimate_noise` at each word length (the compare
    sweep's scaling rule) of ``preset`` with ``overrides`` (``key=value``, applied before the
    scaling); write ``pinn_noise.json`` and ``pinn_noise.png`` into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tqdm import tqdm

    from .compare import scale_config
    from .sw.config import load_config
    from .sw.errors import FotrainError
    from .sw.pinn.fixed import PINNFixedMethod
    from .sw.pinn.task import problem_for
    from .sw.studies.pinn_noise import estimate_noise

    cfg = load_config(preset).with_overrides(list(overrides))
    problem_for(cfg)  # a PDE preset, or a one-line error
    PINNFixedMethod(cfg, seed=seed)  # settings the fixed PINN lacks: one line, before any output
    _mkdir(out)
    rows = []
    for b in tqdm(bits, disable=not progress, desc="pinn-noise study"):
        try:
            r = estimate_noise(scale_config(cfg, b), points=points, seed=seed)
        except FotrainError as e:  # e.g. an accumulator beyond the golden model's integers
            rows.append({"bits": b, "error": str(e)})
            continue
        rows.append({"bits": b, **r})
    ok = [r for r in rows if "error" not in r]
    if not ok:
        raise FotrainError(
            f"--bits: no word length of {list(bits)} could be evaluated ({rows[0]['error']})"
        )
    result = {
        "preset": preset,
        "overrides": list(overrides),
        "points": points,
        "seed": seed,
        "rows": rows,
    }
    (out / "pinn_noise.json").write_text(json.dumps(result, indent=2) + "\n")
    b = np.array([r["bits"] for r in ok])
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for key, label in (
        ("nn_err", "network output"),
        ("grad_err", "|grad u| estimate"),
        ("lap_err", "Laplacian estimate"),
        ("residual_err", "PDE residual"),
    ):
        ax.semilogy(b, [r[key] for r in ok], "o-", label=f"{label} error")
    ax.axhline(ok[0]["residual_float"], color="k", ls="--", label="float residual (signal at init)")
    ax.set_xlabel("word length (bits)")
    ax.set_ylabel("rms fixed minus float")
    ax.set_title(
        f"{preset}: {ok[0]['derivatives']} stencil, sigma = {ok[0]['sigma']}, {points} points",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "pinn_noise.png", dpi=120)
    plt.close(fig)
    return result
