"""``fotrain plot RUN_DIR [RUN_DIR ...] --out PNG``: learning curves of any runs.

Reads each run's ``metrics.jsonl``: the left panel is the logged training loss against steps, the
right panel the headline evaluation metric (``test_accuracy`` or ``rel_l2``, whichever the run
logs) against training forward passes, so forward-only and backprop runs share one x axis.
"""

import json
from pathlib import Path

from .sw.errors import FotrainError

__all__ = ["plot_runs"]

_SKIP = {"kind", "epoch", "step", "lr", "forward_passes", "wall_s"}


def _read(run: Path) -> tuple[list[dict], list[dict]]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        raise FotrainError(f"run: {str(run)!r} has no metrics.jsonl (not a fotrain run directory)")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["kind"] == "train"], [r for r in rows if r["kind"] == "eval"]


def plot_runs(runs: list[Path], out: Path) -> Path:
    """Write the two-panel learning curves of ``runs`` to ``out`` (PNG); return ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_l, ax_e) = plt.subplots(1, 2, figsize=(11, 4))
    metric = None
    for run in runs:
        train, evals = _read(run)
        label = run.name
        if train:
            ax_l.plot([r["step"] for r in train], [r["loss"] for r in train], label=label)
        if evals:
            keys = [k for k in evals[0] if k not in _SKIP]
            metric = metric or (keys[0] if keys else None)
            if metric in evals[0]:
                ax_e.plot(
                    [r["forward_passes"] for r in evals],
                    [r[metric] for r in evals],
                    "o-",
                    label=label,
                )
    ax_l.set_xlabel("step")
    ax_l.set_ylabel("training loss")
    ax_l.set_yscale("log")
    ax_e.set_xlabel("training forward passes (batch evaluations)")
    ax_e.set_xscale("log")
    ax_e.set_ylabel(metric or "metric")
    if metric == "rel_l2":
        ax_e.set_yscale("log")
    for ax in (ax_l, ax_e):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=110)
    except OSError as e:
        raise FotrainError(f"--out: cannot write {str(out)!r} ({e.strerror})") from None
    finally:
        plt.close(fig)
    return out
