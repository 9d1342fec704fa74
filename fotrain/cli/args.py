"""Argument types and options shared by the ``fotrain`` subcommands.

A leaf module: every subcommand module imports it and it imports no subcommand module (nor
anything of fotrain), so the subcommands and the parser that collects them never form an import
cycle.
"""

import argparse

__all__ = ["add_config_arg", "add_data_dir_arg", "add_no_progress_arg", "positive_int"]


def positive_int(text: str) -> int:
    """argparse type: a positive integer (shared by every subcommand).

    Parameters
    ----------
    text : str
        The command-line value.

    Returns
    -------
    int
        The value, at least 1.

    Raises
    ------
    argparse.ArgumentTypeError
        Not an integer, or below 1 (argparse reports it as a usage error).
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


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
