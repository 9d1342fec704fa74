"""The ``fotrain`` command: a thin shell of subcommands over library calls.

One module per subcommand (:mod:`.info`, :mod:`.demo`, :mod:`.train`, :mod:`.plot`,
:mod:`.download`, :mod:`.study`, :mod:`.bench`, :mod:`.hardware` for ``emit`` and ``synth``,
:mod:`.compare`), each with ``add_parser(subparsers)`` and a handler; shared argument types live
in the leaf module :mod:`.args`. Handlers import lazily, so commands that only need the golden
model load numpy alone (``fotrain info`` never imports amaranth). User mistakes (bad config
values, unknown presets, unreadable files, bad arguments) print one line ``fotrain: error: <field>:
<what is wrong>`` and exit with status 2, without a traceback (docs/CLI.md holds the contract and
the table of bad inputs the tests check).
"""

import argparse
import sys
from collections.abc import Sequence

from . import bench, compare, demo, download, hardware, info, plot, study, train
from .args import OneLineParser, positive_int

__all__ = ["build_parser", "main", "positive_int"]

EPILOG = """\
examples:
  fotrain demo                       run the default TT layer in float and fixed point
  fotrain info mnist-ttm-256         parameters, MACs and memory per layer of a preset
  fotrain info my.toml --json        the same for a config file, as JSON
  fotrain bench fixed                fixed vs float TT forward, and fotrain vs fxpmath
  fotrain train mnist-tt-zo          forward-only training of the MNIST TT network
  fotrain train --resume runs/X      continue an interrupted run bit-identically
"""

# the order of `fotrain --help`
_COMMANDS = (info, demo, train, plot, download, study, bench, hardware, compare)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs).

    Returns
    -------
    argparse.ArgumentParser
        ``fotrain`` with every subcommand registered; ``args.func(args)`` runs the chosen one.
    """
    from .. import __version__

    parser = OneLineParser(
        prog="fotrain",
        description="Forward-only (backprop-free) training of tensor-train networks: numpy golden "
        "model, bit-exact fixed point, Amaranth RTL and FPGA flows.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fotrain {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fotrain`` console script.

    Parameters
    ----------
    argv : sequence of str or None
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0, 2 for a user mistake (one line on stderr), 3 when training diverged
        (one line; the last good checkpoint stays), 130 when interrupted.
    """
    from ..sw.errors import FotrainError
    from ..sw.train.trainer import TrainingDiverged

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TrainingDiverged as e:  # not a mistake in the command: its own status
        print(f"fotrain: error: {e}", file=sys.stderr)
        return 3
    except FotrainError as e:
        print(f"fotrain: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        # an OS error naming a path the user gave (unreadable, not a directory, disk full):
        # a user mistake like any other, not a traceback; one without a path is a bug
        if e.filename is None:
            raise
        print(f"fotrain: error: {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fotrain: interrupted", file=sys.stderr)
        return 130
