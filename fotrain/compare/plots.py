"""Plots of a ``fotrain compare`` sweep, one function per PNG (matplotlib, Agg backend).

``metric_vs_bits.png``: final metric against word length per entry (dots: seeds; band: seed
range; dashed: float mean; x: a failed run). ``learning_curves.png``: evaluation metric and
training loss against step, float against chosen word lengths. ``saturation_underflow.png``:
saturation events and the share of updates rounded to zero against word length.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .results import higher_better, mean

__all__ = [
    "plot_learning_curves",
    "plot_metric_vs_bits",
    "plot_saturation_underflow",
    "write_plots",
]

_DPI = 110


def _pyplot():
    """``matplotlib.pyplot`` on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors() -> list[str]:
    return _pyplot().rcParams["axes.prop_cycle"].by_key()["color"]


def _labels(rows: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["label"] for r in rows))


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    _pyplot().close(fig)
    return path.name


def _grid(n: int):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = _pyplot().subplots(rows, cols, figsize=(5.2 * cols, 3.9 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def _pick_curve_bits(bits: Sequence[int], n: int = 4) -> list[int]:
    bits = sorted(set(bits))
    if len(bits) <= n:
        return bits
    idx = sorted({round(i * (len(bits) - 1) / (n - 1)) for i in range(n)})
    return [bits[i] for i in idx]


def _fixed_series(ax, fx: Sequence[dict[str, Any]], color: str, rnd: str) -> None:
    """One rounding's runs on ``ax``: seed dots, failure marks, mean line and seed band."""
    means, lo, hi, xs = [], [], [], []
    for b in sorted({r["bits"] for r in fx}):
        vals = [
            r["metric"]
            for r in fx
            if r["bits"] == b and r["status"] == "ok" and r["metric"] is not None
        ]
        ax.scatter([b] * len(vals), vals, color=color, s=12, alpha=0.6)
        failed = [r for r in fx if r["bits"] == b and r["status"] != "ok"]
        if failed:
            ax.scatter(
                [b], [0.02], transform=ax.get_xaxis_transform(), marker="x", color=color, s=40
            )
        if vals:
            xs.append(b)
            means.append(statistics.fmean(vals))
            lo.append(min(vals))
            hi.append(max(vals))
    if xs:
        ax.plot(xs, means, "o-", color=color, label=f"fixed {rnd}")
        ax.fill_between(xs, lo, hi, color=color, alpha=0.15)


def plot_metric_vs_bits(rows: Sequence[dict[str, Any]], out: Path) -> str:
    """Write ``OUT/metric_vs_bits.png``: final metric vs word length, seed spread, float line.

    Parameters
    ----------
    rows : sequence of dict
        Result rows (:func:`fotrain.compare.results.collect_rows`), at least one.
    out : Path
        Output directory.

    Returns
    -------
    str
        The file name.
    """
    labels = _labels(rows)
    colors = _colors()
    fig, axes = _grid(len(labels))
    for ax, label in zip(axes, labels, strict=False):
        mine = [r for r in rows if r["label"] == label]
        name = next((r["metric_name"] for r in mine if r["metric_name"]), "metric")
        floats = [
            r["metric"]
            for r in mine
            if r["numerics"] == "float" and r["status"] == "ok" and r["metric"] is not None
        ]
        if floats:
            ax.axhline(statistics.fmean(floats), color="k", ls="--", lw=1, label="float")
            if len(floats) > 1:
                ax.axhspan(min(floats), max(floats), color="k", alpha=0.08)
        for i, rnd in enumerate(
            dict.fromkeys(r["rounding"] for r in mine if r["numerics"] == "fixed")
        ):
            fx = [r for r in mine if r["numerics"] == "fixed" and r["rounding"] == rnd]
            _fixed_series(ax, fx, colors[i % len(colors)], rnd)
        if not higher_better(name):
            ax.set_yscale("log")
        ax.set_title(f"{label} ({mine[0]['method']})")
        ax.set_xlabel("word length (bits)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Final metric vs word length", fontsize=10)
    return _save(fig, out / "metric_vs_bits.png")


def _curve_picks(
    mine: Sequence[dict[str, Any]],
    seed: int,
    colors: Sequence[str],
    curve_bits: Sequence[int] | None,
) -> list[tuple[dict[str, Any], str, str]]:
    """(row, legend label, color) of the float run and the chosen word lengths for ``seed``."""
    rnd = next((r["rounding"] for r in mine if r["numerics"] == "fixed"), "")
    fixed_bits = sorted({r["bits"] for r in mine if r["numerics"] == "fixed"})
    chosen = [b for b in (curve_bits or _pick_curve_bits(fixed_bits)) if b in fixed_bits]
    picks = [(r, "float", "k") for r in mine if r["numerics"] == "float" and r["seed"] == seed]
    for i, b in enumerate(chosen):
        picks += [
            (r, f"{b} bit {rnd}", colors[i % len(colors)])
            for r in mine
            if r["bits"] == b and r["rounding"] == rnd and r["seed"] == seed
        ]
    return picks


def plot_learning_curves(
    rows: Sequence[dict[str, Any]], out: Path, curve_bits: Sequence[int] | None = None
) -> str:
    """Write ``OUT/learning_curves.png``: eval metric (top) and train loss (bottom) vs step.

    Parameters
    ----------
    rows : sequence of dict
        Result rows, at least one.
    out : Path
        Output directory.
    curve_bits : sequence of int or None
        Word lengths to draw next to float (default: up to 4 spread over those tested).

    Returns
    -------
    str
        The file name.
    """
    labels = _labels(rows)
    colors = _colors()
    fig, ax2 = _pyplot().subplots(2, len(labels), figsize=(5.2 * len(labels), 7.2), squeeze=False)
    for j, label in enumerate(labels):
        mine = [r for r in rows if r["label"] == label]
        name = next((r["metric_name"] for r in mine if r["metric_name"]), "metric")
        seed = min(r["seed"] for r in mine)
        for r, lab, c in _curve_picks(mine, seed, colors, curve_bits):
            pts = [(p["step"], p["value"]) for p in r["curve"] if p["value"] is not None]
            if pts:
                ax2[0][j].plot(*zip(*pts, strict=True), "o-", color=c, label=lab, ms=3)
            lpts = [(p["step"], p["loss"]) for p in r["loss_curve"] if p["loss"] is not None]
            if lpts:
                ax2[1][j].plot(*zip(*lpts, strict=True), "-", color=c, label=lab)
        ax2[0][j].set_title(f"{label}: {name} (seed {seed})")
        ax2[1][j].set_title(f"{label}: train loss")
        if not higher_better(name):
            ax2[0][j].set_yscale("log")
        for ax in (ax2[0][j], ax2[1][j]):
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=8)
    return _save(fig, out / "learning_curves.png")


def plot_saturation_underflow(rows: Sequence[dict[str, Any]], out: Path) -> str:
    """Write ``OUT/saturation_underflow.png``: saturation events and zero-update share vs bits.

    Parameters
    ----------
    rows : sequence of dict
        Result rows, at least one.
    out : Path
        Output directory.

    Returns
    -------
    str
        The file name.
    """
    labels = _labels(rows)
    colors = _colors()
    fig, ax3 = _pyplot().subplots(2, len(labels), figsize=(5.2 * len(labels), 7.2), squeeze=False)
    for j, label in enumerate(labels):
        mine = [r for r in rows if r["label"] == label and r["numerics"] == "fixed"]
        for i, rnd in enumerate(dict.fromkeys(r["rounding"] for r in mine)):
            c = colors[i % len(colors)]
            fx = [r for r in mine if r["rounding"] == rnd]
            bits = sorted({r["bits"] for r in fx})
            for k, key in enumerate(("saturation", "underflow")):
                pts = [(b, mean(r[key] for r in fx if r["bits"] == b)) for b in bits]
                pts = [(b, v) for b, v in pts if v is not None]
                if pts:
                    ax3[k][j].plot(*zip(*pts, strict=True), "o-", color=c, label=f"{rnd}")
        ax3[0][j].set_yscale("symlog", linthresh=1)
        ax3[0][j].set_title(f"{label}: saturation events")
        ax3[1][j].set_title(f"{label}: share of updates rounded to 0")
        ax3[1][j].set_ylim(-0.02, 1.02)
        for ax in (ax3[0][j], ax3[1][j]):
            ax.set_xlabel("word length (bits)")
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=8)
            else:
                ax.text(
                    0.5,
                    0.5,
                    "not reported by this method",
                    ha="center",
                    transform=ax.transAxes,
                    fontsize=9,
                    color="0.4",
                )
    return _save(fig, out / "saturation_underflow.png")


def write_plots(
    rows: Sequence[dict[str, Any]], out: Path, curve_bits: Sequence[int] | None = None
) -> list[str]:
    """Write the three plots into ``out``.

    Parameters
    ----------
    rows : sequence of dict
        Result rows; none -> no plots.
    out : Path
        Output directory.
    curve_bits : sequence of int or None
        Word lengths of the learning-curve plot (:func:`plot_learning_curves`).

    Returns
    -------
    list of str
        ``metric_vs_bits.png``, ``learning_curves.png``, ``saturation_underflow.png`` (empty
        without rows).
    """
    if not _labels(rows):
        return []
    return [
        plot_metric_vs_bits(rows, out),
        plot_learning_curves(rows, out, curve_bits),
        plot_saturation_underflow(rows, out),
    ]
