"""``fotrain bench``: benchmarks that print JSON (fixed vs float, fotrain vs fxpmath or torch)."""

import argparse
import json

from .args import positive_int, seed_int

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, print (and optionally write) its JSON; returns the exit status."""
    from ..bench import run_bench
    from .paths import check_out_file

    if args.out:
        check_out_file(args.out)  # before the benchmark runs
    batch = args.batch or (256 if args.what == "fixed" else 128)
    result = run_bench(args.what, batch=batch, repeats=args.repeats, seed=args.seed)
    text = json.dumps(result, indent=2)
    if args.out:
        from pathlib import Path

        from ..sw.errors import FotrainError

        try:
            Path(args.out).write_text(text + "\n", encoding="utf-8")
        except OSError as e:
            raise FotrainError(f"--out: cannot write {args.out!r} ({e.strerror})") from None
    print(text)
    return 0


def add_parser(sub: "argparse._SubParsersAction") -> None:
    """Register ``fotrain bench`` on ``sub``, the main parser's subparsers."""
    p = sub.add_parser(
        "bench",
        help="benchmarks that print JSON (not timed tests)",
        description="fixed: fixed-point vs float TT forward of the default layer "
        "(goal <= 3x) and fotrain vs fxpmath on the same fixed-point "
        "multiply-accumulate (goal >= 100x; needs the `bench` extra). "
        "zo: one ZO step of mnist-tt-zo vs a straightforward PyTorch "
        "CPU version (goal ratio <= 1; needs torch).",
    )
    p.add_argument("what", choices=["fixed", "zo"], help="which benchmark")
    p.add_argument(
        "--batch",
        type=positive_int,
        default=None,
        help="batch size (default 256 for fixed, the preset's 128 for zo)",
    )
    p.add_argument("--repeats", type=positive_int, default=20, help="timed repeats (default 20)")
    p.add_argument("--seed", type=seed_int, default=0, help="random seed (default 0)")
    p.add_argument("--out", metavar="FILE", help="also write the JSON to FILE")
    p.set_defaults(func=run)
