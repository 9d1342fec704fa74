"""``fotrain info``: parameters, MACs, memory and compression per layer of a config."""

import argparse
import json

from .args import add_config_arg, positive_int

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    """Print the config's per-layer summary (or the preset list); returns the exit status."""
    from ..report import config_info, format_info
    from ..sw.config import load_config, preset_names

    if args.list:
        print("\n".join(["default", *preset_names()]))
        return 0
    info = config_info(load_config(args.config), batch=args.batch)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def add_parser(sub: "argparse._SubParsersAction") -> None:
    """Register ``fotrain info`` on ``sub``, the main parser's subparsers."""
    p = sub.add_parser(
        "info",
        help="parameters, MACs, memory and compression per layer",
        description="Print per-layer geometry, trainable entries, the dense "
        "equivalent, compression ratio, MACs and memory of a config.",
    )
    add_config_arg(p)
    p.add_argument("--batch", type=positive_int, default=1, help="batch size for MACs (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--list", action="store_true", help="list the built-in presets and exit")
    p.set_defaults(func=run)
