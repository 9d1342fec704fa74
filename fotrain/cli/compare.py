"""``fotrain compare``: fixed-point vs float word-length sweeps (engine: :mod:`fotrain.compare`).

The handler imports the sweep engine lazily; user mistakes raise
:class:`~fotrain.sw.errors.FotrainError` (one line, exit 2). Prints the smallest word length
within tolerance per entry (stdout) and where the outputs went (stderr).
"""

import argparse
import sys

from .args import add_data_dir_arg, add_no_progress_arg, positive_int

__all__ = ["add_parser", "run"]

DESCRIPTION = """\
Train each preset in float and in fixed point at every word length (and rounding), repeated over
seeds, in parallel worker processes; an interrupted sweep started again skips finished runs and
resumes unfinished ones. Writes OUT/results.csv, OUT/results.json, PNG plots and OUT/report.md
(the smallest word length within 0.5 points of float accuracy, or 2x its relative L2 error).
Word-length rule: weight and act get BITS bits with the preset's integer bits, the accumulator
frac = act.frac + weight.frac and the width validation demands; --set overrides apply after.
"""

EPILOG = """\
examples:
  fotrain compare mnist-tt-zo-fixed16 --bits 8,12,16 --seeds 2 --out runs/cmp
  fotrain compare mnist-mlp-tpsgd-fixed16 --bits 6,8,16 --rounding TRN,RND \\
      --set train.train_limit=10000 --set train.epochs=1
  fotrain compare --default          the curated study (74 short runs); writes docs/compare
  fotrain compare --default --dry-run   list its runs without training
"""

_DEFAULT_BITS = (4, 6, 8, 10, 12, 16, 20, 24)


def _entries(args: argparse.Namespace, bits, roundings) -> tuple[list, list, str]:
    """The study to run: ``(entries, missing slots, output directory)``."""
    from ..compare import DEFAULT_OUT, Entry, resolve_default_study
    from ..sw.errors import FotrainError

    if args.default:
        if args.presets:
            raise FotrainError("compare: give presets or --default, not both")
        entries, missing = resolve_default_study()
        if bits or roundings or args.seeds:
            import dataclasses

            entries = [
                dataclasses.replace(
                    e,
                    bits=bits or e.bits,
                    roundings=roundings or e.roundings,
                    seeds=args.seeds or e.seeds,
                )
                for e in entries
            ]
        return entries, missing, args.out or DEFAULT_OUT
    if not args.presets:
        raise FotrainError("compare: give at least one preset (or --default)")
    from ..sw.config import load_config

    for p in args.presets:
        load_config(p)  # unknown preset / unreadable file: one line
    entries = [
        Entry(p, p, (), bits or _DEFAULT_BITS, roundings or (None,), args.seeds or 1)
        for p in dict.fromkeys(args.presets)
    ]
    return entries, [], args.out or "runs/compare"


def _print_plan(specs, missing) -> None:
    for s in specs:
        print(f"{s.status:8s} {s.run_dir}")
    for m in missing:
        print(f"missing  {m['label']}: {m['reason']}")
    print(
        f"fotrain: {len(specs)} runs planned, "
        f"{sum(s.status in ('done', 'failed') for s in specs)} already finished",
        file=sys.stderr,
    )


def _print_results(result, missing) -> None:
    for m in result["min_bits"]:
        verdict = f"{m['min_bits']} bits" if m["min_bits"] is not None else "none tested"
        ref = "-" if m["float"] is None else f"{m['float']:.4g}"
        print(
            f"{m['label']:>24} {m['rounding']:>8}: float {m['metric_name']} {ref}; "
            f"smallest word length within {m['tolerance']}: {verdict}"
        )
    for m in missing:
        print(f"{m['label']:>24}: not covered ({m['reason']})")


def run(args: argparse.Namespace) -> int:
    """Run (or with ``--dry-run`` list) the sweep and print its headline; returns the status."""
    from ..compare import compare, parse_bits, parse_roundings
    from ..sw.errors import FotrainError

    sets = list(args.set or [])
    bits = parse_bits(args.bits) if args.bits is not None else None
    roundings = parse_roundings(args.rounding) if args.rounding is not None else None
    try:
        curve = parse_bits(args.curve_bits) if args.curve_bits else None
    except FotrainError as e:  # parse_bits names --bits; the value came from --curve-bits
        raise FotrainError(str(e).replace("--bits", "--curve-bits", 1)) from None
    entries, missing, out = _entries(args, bits, roundings)
    result = compare(
        entries,
        out,
        runs_dir=args.runs,
        sets=sets,
        jobs=args.jobs,
        data_dir=args.data_dir,
        progress=not args.no_progress,
        keep_checkpoints=args.keep_checkpoints,
        missing=missing,
        command=_command_line(args),
        curve_bits=curve,
        dry_run=args.dry_run,
        log=lambda s: print(s, file=sys.stderr),
    )
    if args.dry_run:
        _print_plan(result["specs"], missing)
        return 0
    _print_results(result, missing)
    bad = [r for r in result["rows"] if r["status"] == "crashed"]
    if bad:
        raise FotrainError(
            f"compare: {len(bad)} runs crashed (first: {bad[0]['run_dir']}: "
            f"{bad[0]['message']}); outputs written, rerun to retry them"
        )
    return 0


def _command_line(args: argparse.Namespace) -> str:
    """The command that regenerates these results (flags that change them only)."""
    import shlex

    parts = ["fotrain", "compare", *(["--default"] if args.default else []), *args.presets]
    for flag, value in (
        ("--bits", args.bits),
        ("--rounding", args.rounding),
        ("--seeds", args.seeds),
        ("--out", args.out),
        ("--runs", args.runs),
    ):
        if value is not None:
            parts += [flag, str(value)]
    for s in args.set or []:
        parts += ["--set", s]
    return " ".join(shlex.quote(p) for p in parts)


def add_parser(sub: "argparse._SubParsersAction") -> None:
    """Register ``fotrain compare`` on ``sub``, the main parser's subparsers."""
    p = sub.add_parser(
        "compare",
        help="fixed-point vs float training: word-length sweeps",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "presets",
        metavar="PRESET",
        nargs="*",
        help="presets (or .toml configs) whose method has fixed-point numerics",
    )
    p.add_argument(
        "--default",
        action="store_true",
        help="the curated study (ZO-TT, hybrid, tpSGD, DRTP, HJB-20d where they "
        "have fixed numerics) into docs/compare",
    )
    p.add_argument(
        "--bits", metavar="B,B,...", help="word lengths in 2..32 (default 4,6,8,10,12,16,20,24)"
    )
    p.add_argument(
        "--rounding",
        metavar="R,R,...",
        help="TRN, RND, RND_CONV for weight, act and acc (default: the preset's)",
    )
    p.add_argument("--seeds", type=positive_int, help="seeds 0..N-1 per setting (default 1)")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="output directory (default runs/compare; --default: docs/compare)",
    )
    p.add_argument("--runs", metavar="DIR", help="run directories (default OUT/runs)")
    p.add_argument("--jobs", type=positive_int, default=2, help="worker processes (default 2)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override for every run, after scaling (repeatable; e.g. "
        "--set train.epochs=1 --set formats.act.width=12)",
    )
    add_data_dir_arg(p)
    p.add_argument(
        "--curve-bits",
        metavar="B,B,...",
        help="word lengths in the learning-curve plot (default: up to 4 spread)",
    )
    p.add_argument(
        "--keep-checkpoints",
        action="store_true",
        help="keep finished runs' checkpoint.npz (default: delete them)",
    )
    p.add_argument("--dry-run", action="store_true", help="validate and list the runs only")
    add_no_progress_arg(p)
    p.set_defaults(func=run)
