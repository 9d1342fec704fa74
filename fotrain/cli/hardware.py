"""Hardware subcommands of ``fotrain``: ``emit`` (Verilog) and ``synth`` (report.json).

Handlers import Amaranth (and the yowasp tools) lazily, so the golden-model commands never load
them. User mistakes (unknown preset, a layer the engine cannot build, an unwritable ``--out``,
missing synthesis tools) raise :class:`~fotrain.sw.errors.FotrainError`; the CLI prints the one
line and exits with status 2.
"""

import argparse
import json
from pathlib import Path

from .args import seed_int
from .paths import check_out_dir

__all__ = ["BLOCKS", "TARGETS", "add_parser", "build_block", "run_emit", "run_synth"]

BLOCKS = ("tt_engine", "perturb")
TARGETS = ("ice40-up5k", "ecp5-25k")


def build_block(block: str, config: str, layer: int = 0):
    """The Amaranth component ``block`` for a config.

    Parameters
    ----------
    block : str
        One of :data:`BLOCKS`.
    config : str
        Preset name or TOML path.
    layer : int
        Layer index (``tt_engine`` only).

    Returns
    -------
    amaranth.lib.wiring.Component
        ``PerturbGen`` or ``TTEngine``.
    """
    from ..sw.config import load_config

    cfg = load_config(config)
    if block == "perturb":
        from ..hw.perturb import PerturbGen

        return PerturbGen.from_config(cfg)
    from ..hw.tt import TTEngine

    return TTEngine(cfg, layer)


def _out_dir(path: str) -> Path:
    from ..sw.errors import FotrainError

    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FotrainError(f"--out: cannot create {path!r} ({e.strerror})") from None
    return out


def run_emit(args: argparse.Namespace) -> int:
    """Write ``OUT/<block>.v`` and print its path; returns the exit status."""
    from ..sim.cocotb_runner import emit_verilog
    from ..sw.errors import FotrainError

    check_out_dir(args.out)
    comp = build_block(args.block, args.config, args.layer)
    out = _out_dir(args.out)
    try:
        path = emit_verilog(comp, args.block, out / f"{args.block}.v")
    except OSError as e:
        raise FotrainError(f"--out: cannot write into {args.out!r} ({e.strerror})") from None
    print(path)
    return 0


def run_synth(args: argparse.Namespace) -> int:
    """Synthesise the block, write ``OUT/report.json``, print its summary; returns the status."""
    from ..boards.synth import synthesize

    check_out_dir(args.out)
    comp = build_block(args.block, args.config, args.layer)
    report = synthesize(comp, args.block, args.target, _out_dir(args.out), seed=args.seed)
    print(
        json.dumps(
            {k: report[k] for k in ("block", "target", "luts", "ffs", "dsps", "brams", "fmax_mhz")}
        )
    )
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("block", choices=BLOCKS, help="which RTL block")
    p.add_argument(
        "--config",
        default="default",
        metavar="CONFIG_OR_PRESET",
        help="preset name or .toml path (default: the MNIST 784->256 layer)",
    )
    p.add_argument("--layer", type=int, default=0, help="layer index for tt_engine (default 0)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")


def add_parser(sub: "argparse._SubParsersAction") -> None:
    """Register ``fotrain emit`` and ``fotrain synth`` on the main parser's subparsers.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers`` returned.
    """
    p = sub.add_parser(
        "emit",
        help="write the Verilog of an RTL block",
        description="Convert tt_engine or perturb for a config to Verilog "
        "(DIR/<block>.v; ports clk, rst, <port>__payload/valid/ready).",
    )
    _common(p)
    p.set_defaults(func=run_emit)
    p = sub.add_parser(
        "synth",
        help="synthesise an RTL block and write report.json",
        description="Yosys + nextpnr (the yowasp `synth` extra) on an IO-reduced "
        "wrapper; writes DIR/report.json with LUTs, FFs, DSPs, BRAMs "
        "and Fmax.",
    )
    _common(p)
    p.add_argument("--target", required=True, choices=TARGETS, help="FPGA target")
    p.add_argument("--seed", type=seed_int, default=1, help="nextpnr placement seed (default 1)")
    p.set_defaults(func=run_synth)
