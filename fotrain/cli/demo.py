"""``fotrain demo``: the first TT layer of a config in float and bit-exact fixed point."""

import argparse
import json

from .args import add_config_arg, positive_int, seed_int

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    """Run the demo and print its result; returns the exit status."""
    from ..demo import format_demo, run_demo
    from ..sw.config import load_config

    result = run_demo(load_config(args.config), seed=args.seed, batch=args.batch)
    print(json.dumps(result, indent=2) if args.json else format_demo(result))
    return 0


def add_parser(sub: "argparse._SubParsersAction") -> None:
    """Register ``fotrain demo`` on ``sub``, the main parser's subparsers."""
    p = sub.add_parser(
        "demo",
        help="run the main job on built-in data (no download)",
        description="Build the config's first TT layer with Kaiming-initialised "
        "cores, run it on a random batch in float and in bit-exact "
        "fixed point, and report size, MACs and the fixed-vs-float "
        "error against its LSB-derived bound.",
    )
    add_config_arg(p)
    p.add_argument("--seed", type=seed_int, default=0, help="random seed (default 0)")
    p.add_argument("--batch", type=positive_int, default=64, help="batch size (default 64)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)
