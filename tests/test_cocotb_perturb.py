"""cocotb tier of the perturbation generator (Icarus by default, SIM=verilator optional)."""

import json

import pytest

from fotrain.hw.perturb import PerturbGen
from fotrain.sim.cocotb_runner import run_cocotb, simulator_available, simulator_problem
from fotrain.sw.config import Config, HardwareConfig

pytestmark = pytest.mark.skipif(not simulator_available(), reason=str(simulator_problem()))


def run_perturb(
    build_dir, *, width=32, bits=8, nbits=20_000, seed=0x1234567, stall=None, inject=False
):
    cfg = Config(hardware=HardwareConfig(prng_width=width, perturb_bits_per_cycle=bits))
    seed = seed % ((1 << width) - 1) + 1  # non-zero and fits the state
    env = {
        "FOTRAIN_CFG": cfg.to_json(),
        "NUM_BITS": str(nbits),
        "FOTRAIN_SEED": str(seed),
        "FOTRAIN_STALL": json.dumps(stall),
        "TB_INJECT_ERROR": "1" if inject else "0",
    }
    return run_cocotb(
        PerturbGen.from_config(cfg),
        top="perturb",
        test_module="fotrain.sim.tb.tb_perturb",
        build_dir=build_dir,
        extra_env=env,
        seed=seed,
    )


@pytest.mark.parametrize(
    "width,bits,stall", [(32, 8, [1, 0, 0, 1, 0]), (10, 3, None), (17, 17, [0, 1])]
)
def test_perturb_sample(width, bits, stall, tmp_path):
    rep = run_perturb(tmp_path, width=width, bits=bits, nbits=6_000, stall=stall)
    assert rep["errors"] == 0 and rep["pending"] == 0 and rep["bits"] >= 6_000


def test_checker_bites(tmp_path):
    with pytest.raises(AssertionError, match="failed"):
        run_perturb(tmp_path, nbits=2_000, inject=True)
    assert json.loads((tmp_path / "report.json").read_text())["errors"] == 1


@pytest.mark.long
def test_perturb_one_million_bits(tmp_path):
    """>= 1e6 bits of the default 32-bit generator (8 bits per beat), random stalls."""
    rep = run_perturb(tmp_path, nbits=1_000_000, stall=[0, 0, 1, 0, 1, 0, 0])
    assert rep["errors"] == 0 and rep["pending"] == 0 and rep["bits"] >= 1_000_000
    print(f"perturb: {rep['bits']} bits, {rep['cycles_per_s']:.0f} cycles/s")
