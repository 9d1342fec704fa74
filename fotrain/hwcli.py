"""Hardware subcommands of ``fotrain`` (``emit``, ``synth``); amaranth is imported lazily."""

import argparse

__all__ = ["add_hw_commands"]


def add_hw_commands(sub: "argparse._SubParsersAction") -> None:
    """Register the hardware subcommands on the main parser's subparsers."""
