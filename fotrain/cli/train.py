"""``fotrain train``: train a preset or config without backprop (or a reference), resumably."""

import argparse
import json
import sys

from .args import add_data_dir_arg, add_no_progress_arg, positive_int

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    """Train (or resume) one run, print its summary as JSON; returns the exit status."""
    from pathlib import Path

    from ..sw.config import load_config
    from ..sw.train.runtime import usable_cpus
    from ..sw.train.session import run_training

    if args.resume:
        out = Path(args.resume)
        source = args.config if args.config else str(out / "config.toml")
    else:
        source = args.config
    if not source:
        from ..sw.errors import FotrainError

        raise FotrainError("config: give a preset or config file (or --resume DIR)")
    cfg = load_config(source if not args.resume else out / "config.toml")
    sets = list(args.set or [])
    if args.resume and args.max_steps is None:
        sets.append("train.max_steps=0")  # a resumed run goes to the end unless told otherwise
    for flag, key in (
        (args.epochs, "train.epochs"),
        (args.max_steps, "train.max_steps"),
        (args.seed, "train.seed"),
    ):
        if flag is not None:
            sets.append(f"{key}={flag}")
    cfg = cfg.with_overrides(sets)
    if not args.resume:
        out = Path(args.out) if args.out else Path("runs") / f"{cfg.name}-s{cfg.train.seed}"
    workers = args.workers or usable_cpus()
    summary = run_training(
        cfg,
        out,
        resume=bool(args.resume),
        data_dir=args.data_dir,
        progress=not args.no_progress,
        workers=workers,
        log=lambda s: print(s, file=sys.stderr),
    )
    print(json.dumps(summary, indent=2))
    print(f"fotrain: run written to {out}", file=sys.stderr)
    return 0


def add_parser(sub: "argparse._SubParsersAction") -> None:
    """Register ``fotrain train`` on the main parser's subparsers.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers`` returned.
    """
    p = sub.add_parser(
        "train",
        help="train a network without backprop (or a reference)",
        description="Train a preset or TOML config. Writes DIR/metrics.jsonl (one "
        "line per log interval and per epoch), DIR/checkpoint.npz "
        "(atomic, resumable), DIR/summary.json and DIR/config.toml. "
        "Data: --data-dir, else $FOTRAIN_DATA, else ~/.cache/fotrain.",
    )
    p.add_argument(
        "config",
        metavar="PRESET_OR_CONFIG",
        nargs="?",
        help="preset name (`fotrain info --list`) or .toml file",
    )
    p.add_argument("--epochs", type=positive_int, help="override train.epochs")
    p.add_argument("--max-steps", type=positive_int, help="stop after this many steps")
    p.add_argument("--seed", type=int, help="override train.seed")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override any config value, e.g. --set zo.queries=20 --set train.lr=3e-3"
        " (repeatable; values parsed as TOML)",
    )
    add_data_dir_arg(p)
    p.add_argument("--out", metavar="DIR", help="run directory (default runs/NAME-sSEED)")
    p.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run in DIR bit-identically (--epochs may extend it)",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="processes for the perturbed forwards of fixed-point PINN training "
        "with zo.blocks = 'all', e.g. hjb20-tt-zo-fixed16 (default: the CPUs "
        "this process may use, capped by a cgroup CPU quota; results are "
        "identical for any N; everything "
        "else runs in one process)",
    )
    add_no_progress_arg(p)
    p.set_defaults(func=run)
