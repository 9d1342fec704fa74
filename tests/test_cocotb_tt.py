"""cocotb tier of the TT engine: Verilog through the one bridge, Icarus by default (SIM=verilator
optional); every y word vs the golden model and every cycle vs the cycle model. The CI tier is
the fixed ``ci_cases`` (every rounding mode, bias on and off, every overflow mode; mutants of
each fail it, see tests/test_cocotb_mutants.py) plus a few random cases."""

import json
import math

import numpy as np
import pytest

from fotrain.hw.tt import TTEngine
from fotrain.sim.cases import ci_cases, random_case
from fotrain.sim.cocotb_runner import run_cocotb, simulator_available, simulator_problem
from fotrain.sim.probes import IssueCounted
from fotrain.sw.config import load_config

pytestmark = pytest.mark.skipif(not simulator_available(), reason=str(simulator_problem()))


def run_engine(
    cfg, build_dir, *, batch, seed, idle=None, stall=None, batches=1, fast=False, inject=False
):
    env = {
        "FOTRAIN_CFG": cfg.to_json(),
        "NUM_SAMPLES": str(batch),
        "NUM_BATCHES": str(batches),
        "FOTRAIN_IDLE": json.dumps(idle),
        "FOTRAIN_STALL": json.dumps(stall),
        "FOTRAIN_FAST": "1" if fast else "0",
        "TB_INJECT_ERROR": "1" if inject else "0",
    }
    return run_cocotb(
        IssueCounted(TTEngine(cfg)),
        top="tt_engine",
        test_module="fotrain.sim.tb.tb_engine",
        build_dir=build_dir,
        extra_env=env,
        seed=seed,
    )


def check(rep, cfg=None, *, batch=None, batches=1, fast=False):
    """No word or cycle error; the RTL's issue counter agrees with the cycle model and, given
    the config, with ``MACs per sample x groups`` counted by hand."""
    assert rep["errors"] == 0 and rep["pending"] == 0 and rep["cycle_errors"] == 0, rep
    assert rep["issues"] == rep["model_issues"]
    if not fast:  # every cycle was sampled: the bench's own count agrees with the counter
        assert rep["sampled_issues"] == rep["issues"]
    if cfg is not None:
        groups = math.ceil(batch / cfg.hardware.lanes)
        assert rep["issues"] == cfg.layers[0].macs(1) * groups * batches


@pytest.mark.parametrize("case", ci_cases(), ids=lambda c: c.name)
def test_ci_engine(case, tmp_path):
    """The CI cases, two back-to-back batches each."""
    batch = case.x.shape[0]
    rep = run_engine(
        case.cfg,
        tmp_path,
        batch=batch,
        batches=2,
        seed=case.meta["seed"],
        idle=case.idle,
        stall=case.stall,
    )
    check(rep, case.cfg, batch=batch, batches=2)
    assert rep["words"] == 2 * batch * case.cfg.out_features


@pytest.mark.parametrize("seed", range(4))
def test_random_engine(seed, tmp_path):
    """CI sample: 4 random cases, two back-to-back batches each."""
    case = random_case(np.random.default_rng(seed), max_io=48, max_macs=600, max_batch=16)
    batch = case.x.shape[0]
    rep = run_engine(
        case.cfg, tmp_path, batch=batch, batches=2, seed=seed, idle=case.idle, stall=case.stall
    )
    check(rep, case.cfg, batch=batch, batches=2)
    assert rep["words"] == 2 * batch * case.cfg.out_features


def test_fast_mode_issues_counted_by_the_rtl(tmp_path):
    """Fast mode skips quiet issue cycles unsampled; the issue count still comes from the
    RTL's counter and matches the hand count, not the model's credit."""
    case = next(c for c in ci_cases() if c.name == "ci_rnd_sat_bias")
    batch = case.x.shape[0]
    rep = run_engine(case.cfg, tmp_path, batch=batch, batches=2, seed=3, fast=True)
    check(rep, case.cfg, batch=batch, batches=2, fast=True)
    assert rep["skipped_cycles"] > 0 and rep["sampled_issues"] < rep["issues"]


def test_checker_bites_on_one_flipped_bit(tmp_path):
    case = random_case(np.random.default_rng(99), max_io=16, max_macs=200, max_batch=4)
    with pytest.raises(AssertionError, match="failed"):
        run_engine(case.cfg, tmp_path, batch=4, seed=1, inject=True)
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["errors"] == 1 and rep["cycle_errors"] == 0


@pytest.mark.long
@pytest.mark.parametrize("seed", range(100, 140))
def test_random_engine_long(seed, tmp_path):
    """40 cases x ~2.8k words: >= 1e5 output words, every one and every cycle checked."""
    case = random_case(np.random.default_rng(seed), max_io=64, max_macs=3000, max_batch=40)
    batch = case.x.shape[0]
    batches = max(1, 3200 // (batch * case.cfg.out_features))
    rep = run_engine(
        case.cfg,
        tmp_path,
        batch=batch,
        batches=batches,
        seed=seed,
        idle=case.idle,
        stall=case.stall,
    )
    check(rep, case.cfg, batch=batch, batches=batches)


@pytest.mark.long
def test_mnist_layer_cycles(tmp_path):
    """784->256, rank 4, batch 64, L = 8: measured cycles / (MACs / L), every cycle checked."""
    cfg = load_config("tt-layer-784x256")
    rep = run_engine(cfg, tmp_path, batch=64, seed=1, fast=True)
    check(rep, cfg, batch=64, fast=True)
    assert rep["skipped_cycles"] > 0  # the fast path ran, and the issues were still counted
    assert rep["batch_cycles"] == rep["predicted"]
    ratio = rep["batch_cycles"] / (rep["macs"] / rep["lanes"])
    print(
        f"MNIST layer: {rep['batch_cycles']} cycles, ratio {ratio:.4f}, "
        f"{rep['cycles_per_s']:.0f} cycles/s"
    )
    assert ratio <= 1.10
