"""``fotrain download``: fetch MNIST / Fashion-MNIST (MD5-checked) into the dataset cache."""

import argparse
import sys

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    """Download each dataset named; returns the exit status."""
    from ..sw.train.data import download
    from .paths import check_out_dir

    if args.data_dir:
        check_out_dir(args.data_dir, "--data-dir")  # before any network access
    for name in args.datasets:
        root = download(name, args.data_dir)
        print(f"fotrain: {name} ready in {root}", file=sys.stderr)
    return 0


def add_parser(sub: "argparse._SubParsersAction") -> None:
    """Register ``fotrain download`` on ``sub``, the main parser's subparsers."""
    p = sub.add_parser(
        "download",
        help="fetch MNIST / Fashion-MNIST (MD5-checked) into the cache",
        description="Download the original gzip IDX files into --data-dir (else "
        "$FOTRAIN_DATA, else ~/.cache/fotrain), checking every MD5; "
        "files already present and intact are kept.",
    )
    p.add_argument(
        "datasets",
        nargs="*",
        choices=["mnist", "fmnist"],
        default=["mnist", "fmnist"],
        help="which datasets (default both)",
    )
    p.add_argument("--data-dir", metavar="D", help="target directory")
    p.set_defaults(func=run)
