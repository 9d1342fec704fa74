"""Argument types and options shared by the ``fotrain`` subcommands.

A leaf module: every subcommand module imports it and it imports no subcommand module (nor
anything of fotrain), so the subcommands and the parser that collects them never form an import
cycle.
"""

import argparse
import re
import sys
from typing import NoReturn

__all__ = [
    "OneLineParser",
    "add_config_arg",
    "add_data_dir_arg",
    "add_no_progress_arg",
    "one_line",
    "positive_int",
    "seed_int",
]


def one_line(message: str) -> str:
    """Rewrite an argparse error message as ``<field>: <what is wrong>``.

    argparse words its errors ``argument --epochs: ...``, ``the following arguments are required:
    --out, --target`` or ``unrecognized arguments: --foo 1``; the CLI contract names the field
    first, like every other fotrain error.

    Parameters
    ----------
    message : str
        What argparse passed to :meth:`argparse.ArgumentParser.error`.

    Returns
    -------
    str
        The same facts as one line, the field first.
    """
    message = " ".join(message.split())  # argparse wraps nothing, but a choices list may be long
    m = re.fullmatch(r"argument (\S+?): (.*)", message)
    if m:
        return f"{m[1]}: {m[2]}"
    m = re.fullmatch(r"the following arguments are required: (.*)", message)
    if m:
        return f"{m[1]}: required, not given"
    m = re.fullmatch(r"unrecognized arguments: (.*)", message)
    if m:
        return f"{m[1]}: unrecognized arguments (see --help)"
    m = re.fullmatch(r"one of the arguments (.*) is required", message)
    if m:
        return f"{m[1]}: one of them is required"
    return f"arguments: {message}"


class OneLineParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose usage errors are one line, status 2.

    ``--help`` is unchanged; a mistake prints ``fotrain: error: <field>: <what is wrong>`` instead
    of the usage block (``fotrain COMMAND --help`` shows it on request). Subparsers inherit the
    class (``add_subparsers`` uses the parent's class by default).
    """

    def error(self, message: str) -> NoReturn:
        """Print the one-line error and exit with status 2 (argparse's usage status)."""
        print(f"fotrain: error: {one_line(message)}", file=sys.stderr)
        sys.exit(2)


def _int_at_least(text: str, lo: int, what: str) -> int:
    """``text`` as an integer ``>= lo``, else an ``ArgumentTypeError`` naming ``what``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < lo:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a positive integer (shared by every subcommand); a value below 1 or not an
    integer is an ``argparse.ArgumentTypeError``, which argparse reports as a usage error."""
    return _int_at_least(text, 1, "a positive integer")


def seed_int(text: str) -> int:
    """argparse type: a random seed, an integer ``>= 0`` (what numpy's generators accept)."""
    return _int_at_least(text, 0, "a non-negative integer")


def add_config_arg(p: argparse.ArgumentParser) -> None:
    """Add the optional positional ``CONFIG_OR_PRESET`` (default: the built-in layer).

    Parameters
    ----------
    p : argparse.ArgumentParser
        The subcommand's parser.
    """
    p.add_argument(
        "config",
        metavar="CONFIG_OR_PRESET",
        nargs="?",
        default="default",
        help="a preset name (see `fotrain info --list`) or a path to a .toml config; "
        "default: the built-in MNIST 784->256 TT layer",
    )


def add_data_dir_arg(p: argparse.ArgumentParser) -> None:
    """Add ``--data-dir D`` (the dataset directory of commands that read MNIST).

    Parameters
    ----------
    p : argparse.ArgumentParser
        The subcommand's parser.
    """
    p.add_argument("--data-dir", metavar="D", help="dataset directory (default $FOTRAIN_DATA)")


def add_no_progress_arg(p: argparse.ArgumentParser) -> None:
    """Add ``--no-progress`` (no progress bar on long work).

    Parameters
    ----------
    p : argparse.ArgumentParser
        The subcommand's parser.
    """
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
