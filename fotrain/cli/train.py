"""``fotrain train``: train a preset or config without backprop (or a reference), resumably."""

import argparse
import json
import sys

from .args import add_data_dir_arg, add_no_progress_arg, positive_int, seed_int

__all__ = ["RESUME_CHANGEABLE", "add_parser", "run"]

#: the options ``--resume`` accepts: none of them changes what the run computes except that
#: --epochs sets its length (--max-steps only where it stops, --workers is result-neutral, the
#: data files are MD5-checked wherever --data-dir finds them)
RESUME_CHANGEABLE = ("--epochs", "--max-steps", "--workers", "--data-dir", "--no-progress")

DESCRIPTION = """\
Train a preset or TOML config. Writes DIR/metrics.jsonl (one line per log interval and per
epoch), DIR/checkpoint.npz (atomic, resumable), DIR/summary.json and DIR/config.toml.
Data: --data-dir, else $FOTRAIN_DATA, else ~/.cache/fotrain.

Run directories: a new run is built in a staging directory next to DIR and renamed into place
once its first checkpoint exists, so an interruption leaves DIR absent, the old run, or a
resumable new run. A DIR that already holds files is refused unless --resume (continue it) or
--force (rename it aside to DIR.old-<timestamp>; nothing is deleted).

--resume DIR continues the run bit-identically (metrics.jsonl and parameters equal an
uninterrupted run's). It takes only options that leave the results alone: --epochs (extend the
run; with a cosine schedule and train.schedule_epochs = 0 the schedule stretches to the new
length), --max-steps, --workers, --data-dir and --no-progress. A config, --set, --seed, --out or
--force with --resume is refused. Exit status: 0, 2 for a mistake (one line), 3 when the loss or
the parameters become non-finite or the loss runs away (one line; the last good checkpoint stays).
"""


def _refuse_changes(args: argparse.Namespace) -> None:
    """With --resume, refuse every option that would change the run, naming them."""
    from ..sw.errors import FotrainError

    given = [
        name
        for name, value in (
            ("PRESET_OR_CONFIG", args.config),
            ("--set", args.set),
            ("--seed", args.seed),
            ("--out", args.out),
            ("--force", args.force or None),
        )
        if value is not None
    ]
    if given:
        raise FotrainError(
            f"{given[0]}: would change the resumed run {args.resume!r} (given: "
            f"{', '.join(given)}); --resume takes only {', '.join(RESUME_CHANGEABLE)}"
        )


def run(args: argparse.Namespace) -> int:
    """Train (or resume) one run, print its summary as JSON; returns the exit status."""
    from pathlib import Path

    from ..sw.config import load_config
    from ..sw.errors import FotrainError
    from ..sw.train.rundir import check_resume_dir
    from ..sw.train.runtime import usable_cpus
    from ..sw.train.session import run_training

    if args.resume:
        _refuse_changes(args)
        out = Path(args.resume)
        check_resume_dir(out)
        cfg = load_config(out / "config.toml")
        # a resumed run goes to the end unless told otherwise
        sets = [f"train.max_steps={args.max_steps or 0}"]
    elif not args.config:
        raise FotrainError("PRESET_OR_CONFIG: give a preset or config file (or --resume DIR)")
    else:
        cfg = load_config(args.config)
        sets = list(args.set or [])
        if args.max_steps is not None:
            sets.append(f"train.max_steps={args.max_steps}")
        if args.seed is not None:
            sets.append(f"train.seed={args.seed}")
    if args.epochs is not None:
        sets.append(f"train.epochs={args.epochs}")
    cfg = cfg.with_overrides(sets)
    if not args.resume:
        out = Path(args.out) if args.out else Path("runs") / f"{cfg.name}-s{cfg.train.seed}"
    summary = run_training(
        cfg,
        out,
        resume=bool(args.resume),
        force=args.force,
        data_dir=args.data_dir,
        progress=not args.no_progress,
        workers=args.workers or usable_cpus(),
        log=lambda s: print(s, file=sys.stderr),
    )
    print(json.dumps(summary, indent=2))
    print(f"fotrain: run written to {out}", file=sys.stderr)
    return 0


def add_parser(sub: "argparse._SubParsersAction") -> None:
    """Register ``fotrain train`` on ``sub``, the main parser's subparsers."""
    p = sub.add_parser(
        "train",
        help="train a network without backprop (or a reference)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "config",
        metavar="PRESET_OR_CONFIG",
        nargs="?",
        help="preset name (`fotrain info --list`) or .toml file",
    )
    p.add_argument("--epochs", type=positive_int, help="override train.epochs (resume: extend)")
    p.add_argument("--max-steps", type=positive_int, help="stop after this many steps")
    p.add_argument("--seed", type=seed_int, help="override train.seed")
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
        help="continue the run in DIR bit-identically; takes only " + ", ".join(RESUME_CHANGEABLE),
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="start afresh in a DIR that holds files, renaming the old one to DIR.old-<timestamp>",
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
