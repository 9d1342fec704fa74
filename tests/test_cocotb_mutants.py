"""Mutation tests of the cocotb CI tier: the engine is built with one part deliberately wrong
(the bias alignment, one rounding mode, one overflow mode), emitted to Verilog and run through
the CI cases that use that part; the tier must fail on the output words."""

import inspect
import json
import textwrap

import pytest

import fotrain.hw.tt.mac as mac
from fotrain.hw.tt import TTEngine
from fotrain.sim.cases import TTCase, ci_cases
from fotrain.sim.cocotb_runner import run_cocotb, simulator_available, simulator_problem
from fotrain.sim.probes import IssueCounted
from fotrain.sw.qformat import Overflow, Rounding

pytestmark = pytest.mark.skipif(not simulator_available(), reason=str(simulator_problem()))


def mutate_source(monkeypatch, module, func: str, old: str, new: str) -> None:
    """Replace ``module.func`` by a copy whose source has ``old`` replaced by ``new`` (once)."""
    src = textwrap.dedent(inspect.getsource(getattr(module, func)))
    assert src.count(old) == 1, f"{func}: the mutation site {old!r} is not in the source once"
    ns = dict(vars(module))
    exec(compile(src.replace(old, new), inspect.getfile(module), "exec"), ns)
    monkeypatch.setattr(module, func, ns[func])


def requantize_mutant(field: str, was, now):
    """A :class:`Requantize` that applies ``now`` wherever the config asks for ``was``."""

    class Mutant(mac.Requantize):
        def __init__(self, src, dst, **kwargs):
            if getattr(dst, field) is was:
                dst = dst.with_(**{field: now})
            super().__init__(src, dst, **kwargs)

    return Mutant


def tier_fails(cases: list[TTCase], tmp_path) -> list[str]:
    """Run the CI cases as test_cocotb_tt does, stopping at the first failure; return what
    failed (``name: report``) or ``[]`` when every case passed."""
    assert cases
    for case in cases:
        batch = case.x.shape[0]
        env = {
            "FOTRAIN_CFG": case.cfg.to_json(),
            "NUM_SAMPLES": str(batch),
            "NUM_BATCHES": "2",
            "FOTRAIN_IDLE": json.dumps(case.idle),
            "FOTRAIN_STALL": json.dumps(case.stall),
        }
        build = tmp_path / case.name
        try:
            run_cocotb(
                IssueCounted(TTEngine(case.cfg)),
                top="tt_engine",
                test_module="fotrain.sim.tb.tb_engine",
                build_dir=build,
                extra_env=env,
                seed=case.meta["seed"],
            )
        except AssertionError:
            rep = json.loads((build / "report.json").read_text())
            # the mutants change values, not timing: the word checker must be what fails
            assert rep["errors"] > 0 and rep["cycle_errors"] == 0, rep
            return [f"{case.name}: {rep['errors']} wrong words"]
    return []


def test_bias_alignment_mutant_fails(monkeypatch, tmp_path):
    """The bias joins the accumulator one bit short of ``weight.frac``."""
    mutate_source(
        monkeypatch,
        mac,
        "build_multiply_accumulate",
        "tag3.bias << fw.frac",
        "tag3.bias << (fw.frac - 1)",
    )
    cases = [c for c in ci_cases() if c.cfg.layers[0].bias]
    assert tier_fails(cases, tmp_path)


@pytest.mark.parametrize(
    "field,was,now",
    [
        ("rounding", Rounding.TRN, Rounding.RND),
        ("rounding", Rounding.RND, Rounding.RND_CONV),  # differ only on exact ties
        ("rounding", Rounding.RND_CONV, Rounding.RND),
        ("overflow", Overflow.WRAP, Overflow.SAT),
        ("overflow", Overflow.SAT, Overflow.WRAP),
        ("overflow", Overflow.SAT_SYM, Overflow.SAT),  # differ only at min_code
    ],
    ids=lambda v: v if isinstance(v, str) else v.name,
)
def test_requantize_mutant_fails(field, was, now, monkeypatch, tmp_path):
    """One rounding or overflow mode implemented as another fails every CI case that uses it."""
    monkeypatch.setattr(mac, "Requantize", requantize_mutant(field, was, now))
    cases = [c for c in ci_cases() if getattr(c.cfg.formats.act, field) is was]
    assert cases and tier_fails(cases, tmp_path)
