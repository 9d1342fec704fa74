"""``fotrain plot``: learning curves of one or more training runs (PNG)."""

import argparse
import sys

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    """Plot the runs into ``--out``; returns the exit status."""
    from pathlib import Path

    from ..plot import plot_runs
    from .paths import check_out_file

    check_out_file(args.out)
    out = plot_runs([Path(r) for r in args.runs], Path(args.out))
    print(f"fotrain: wrote {out}", file=sys.stderr)
    return 0


def add_parser(sub: "argparse._SubParsersAction") -> None:
    """Register ``fotrain plot`` on ``sub``, the main parser's subparsers."""
    p = sub.add_parser(
        "plot",
        help="learning curves of one or more runs (PNG)",
        description="Plot the training loss against steps and the evaluation "
        "metric (test accuracy or rel L2) against forward passes for "
        "each RUN_DIR written by `fotrain train`.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories")
    p.add_argument("--out", default="curves.png", help="output PNG (default curves.png)")
    p.set_defaults(func=run)
