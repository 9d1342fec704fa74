"""Package layering: the golden model runs on numpy alone; no generic top-level names installed."""

import subprocess
import sys


def test_sw_imports_no_amaranth_or_cocotb():
    code = ("import sys, pkgutil, importlib, fotrain.sw\n"
            "for m in pkgutil.walk_packages(fotrain.sw.__path__, 'fotrain.sw.'):\n"
            "    importlib.import_module(m.name)\n"
            "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('amaranth', 'cocotb',"
            " 'cocotb_tools', 'matplotlib'))\n"
            "print(','.join(bad))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == ""


def test_no_generic_top_level_packages():
    for name in ("sw", "hw", "sim", "boards"):
        r = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True,
                           cwd="/", text=True)
        assert r.returncode != 0, f"a top-level package {name!r} is importable"
    for name in ("fotrain.sw", "fotrain.hw", "fotrain.sim", "fotrain.boards"):
        subprocess.run([sys.executable, "-c", f"import {name}"], check=True, cwd="/")
