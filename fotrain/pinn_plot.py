"""Learning curve of a PINN run: ``metrics.jsonl`` -> PNG (training loss and test rel L2).

``python -m fotrain.pinn_plot RUN_DIR [RUN_DIR ...] --out curve.png`` plots, against network
evaluations, the logged training loss (left) and the ``rel_l2`` evaluations (right) of each run.
"""

import argparse
import json
from pathlib import Path

__all__ = ["main", "plot_runs"]


def _read(run: Path) -> tuple[list[dict], list[dict]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
            if line.strip()]
    return [r for r in rows if r["kind"] == "train"], [r for r in rows if r["kind"] == "eval"]


def plot_runs(runs: list[Path], out: Path) -> Path:
    """Write the two-panel curve of ``runs`` to ``out`` (PNG) and return ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_l, ax_e) = plt.subplots(1, 2, figsize=(10, 4))
    for run in runs:
        train, evals = _read(run)
        per = json.loads((run / "summary.json").read_text()).get(
            "network_evals_per_iteration") if (run / "summary.json").is_file() else None
        scale = per or 1
        label = run.name
        ax_l.semilogy([r["step"] * scale for r in train], [r["loss"] for r in train], label=label)
        ax_e.semilogy([r["forward_passes"] for r in evals], [r["rel_l2"] for r in evals], "o-",
                      label=label)
    ax_l.set_xlabel("network evaluations")
    ax_l.set_ylabel("training loss (mean residual^2)")
    ax_e.set_xlabel("network evaluations")
    ax_e.set_ylabel("test relative L2")
    for ax in (ax_l, ax_e):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry (module docstring)."""
    p = argparse.ArgumentParser(prog="python -m fotrain.pinn_plot", description=__doc__)
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=Path("pinn_curve.png"))
    args = p.parse_args(argv)
    print(plot_runs(args.runs, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
