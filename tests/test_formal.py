"""Formal checks (SymbiYosys BMC, fotrain.sim.formal): the stream, beat, last, load-interlock
and reset properties hold on a small engine and on the perturbation generator, every cover is
reached, and a DUT whose output stream breaks a stream rule fails the proof."""

import pytest

from fotrain.sim.formal import (
    ENGINE_DEPTH,
    ENGINE_DEPTH_LONG,
    MUTANTS,
    PERTURB_DEPTH,
    EngineHarness,
    PerturbHarness,
    formal_tools,
    run_sby,
)

_, MISSING = formal_tools()
pytestmark = pytest.mark.skipif(
    MISSING is not None, reason=f"formal tools not installed: {MISSING}"
)

HARNESSES = {"engine": (EngineHarness, ENGINE_DEPTH), "perturb": (PerturbHarness, PERTURB_DEPTH)}
#: The stream rule each mutant breaks, as the harness names it.
BROKEN = {"drop_valid": "valid held until ready", "flip_payload": "payload stable while waiting"}


def _run(tmp_path, dut, mode, *, mutant=None, depth=None):
    harness, default = HARNESSES[dut]
    return run_sby(harness(mutant=mutant), mode=mode, depth=depth or default, workdir=tmp_path)


@pytest.mark.parametrize("dut", sorted(HARNESSES))
def test_properties_hold(tmp_path, dut):
    res = _run(tmp_path, dut, "bmc")
    assert res.status == "PASS", f"{res.failed}; log in {tmp_path}"


@pytest.mark.parametrize("dut", sorted(HARNESSES))
def test_covers_reached(tmp_path, dut):
    res = _run(tmp_path, dut, "cover")
    assert res.status == "PASS", f"a cover is unreachable; log in {tmp_path}\n{res.log[-2000:]}"


@pytest.mark.parametrize("mutant", MUTANTS)
@pytest.mark.parametrize("dut", sorted(HARNESSES))
def test_broken_stream_rule_fails(tmp_path, dut, mutant):
    res = _run(tmp_path, dut, "bmc", mutant=mutant)
    assert res.status == "FAIL", f"mutant {mutant} survived; log in {tmp_path}"
    assert any(BROKEN[mutant] in name for name in res.failed), res.failed


@pytest.mark.long
def test_engine_properties_hold_deep(tmp_path):
    res = _run(tmp_path, "engine", "bmc", depth=ENGINE_DEPTH_LONG)
    assert res.status == "PASS", f"{res.failed}; log in {tmp_path}"
