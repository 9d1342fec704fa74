"""``fotrain compare``: fixed-point vs float training, swept over word length, rounding and seed.

Contract
--------
For every study entry (a preset, optionally with budget overrides) the sweep trains one float run
per seed and one fixed-point run per (word length, rounding, seed), each in its own directory
``RUNS/<label>/float-s<seed>/`` or ``RUNS/<label>/fixed-b<bits>-<rounding>-s<seed>/`` (``RUNS``
defaults to ``OUT/runs``), through :func:`fotrain.sw.train.session.run_training`. Runs execute in
``jobs`` worker processes (``concurrent.futures.ProcessPoolExecutor``, spawn start, BLAS limited
to ``cpu_count // jobs`` threads each). Started again, a sweep skips runs that finished
(``summary.json``, or ``failed.json`` for a deterministic failure such as divergence), resumes
runs that hold a checkpoint (``run_training(..., resume=True)``, bit-identical), starts the rest,
and refuses a run directory whose ``config.toml`` differs from the planned config (an unfinished
run may differ in ``train.epochs``/``max_steps``: resume adopts the planned length). Finished runs'
checkpoints are deleted unless ``keep_checkpoints`` (the committed default study stays small).

Outputs in ``OUT``: ``results.csv`` and ``results.json`` (one row per run: label, preset,
method, numerics, bits, rounding, seed, headline metric from ``summary.json``, saturation
events, zero-update share, forward passes, wall time, ...), ``metric_vs_bits.png``,
``learning_curves.png``, ``saturation_underflow.png`` and ``report.md``, which embeds the plots
and states per entry and rounding the smallest word length within tolerance of float: 0.5
points of test accuracy (classification) or 2x the relative L2 error (PINN), for the mean over
seeds, such that every larger word length tested is within tolerance too.

Word-length scaling rule (:func:`scale_config`), for a word length ``b`` and rounding ``R``:

- ``weight`` and ``act`` become ``b`` bits wide and keep the preset's integer bits (sign
  included): ``frac = b - (width0 - frac0)``, clamped to ``frac >= 0`` (below the preset's
  integer bits the range shrinks instead and saturation shows it);
- ``acc`` gets ``frac = act.frac + weight.frac`` (products enter it unrounded) and the smallest
  width that holds every core's sum, ``max`` of ``FormatConfig.acc_bits_needed`` over all layers'
  contraction lengths (bias on the last core), i.e. exactly what config validation demands; a word
  length whose accumulator would exceed the golden model's 62-bit integers is refused;
- ``R`` (if given) replaces the rounding of all three formats; overflow modes are kept;
- ZO methods keep the perturbation's real size: ``zo.fixed_mu_lsb = max(1, round(mu_lsb0 *
  2**(weight.frac - weight.frac0)))`` (so short words perturb by 1 LSB, larger than in float);
- local-learning rules keep the gradient accumulator's integer bits: ``local.fixed_grad_width =
  clamp(width0 - 2 act.frac0 + 2 act.frac, 16, 48)``.

At the preset's own word length the scaled config computes the same numbers as the preset (only
the accumulator width may shrink to the minimum, and it never overflows in either). User
``--set`` overrides apply after scaling; an override of ``formats.weight``/``formats.act`` that
leaves ``formats.acc`` alone re-derives ``acc`` by the same rule. The float run of an entry is
the same config with ``train.numerics = "float"`` (formats unused).

Diagnostics per row: ``saturation`` = overflow/saturation events of the run (``summary.json``
``overflow_events``, else the last logged ``sat_total``/``overflow_events``), ``underflow`` = mean
share of parameter updates that rounded to zero (``zero_update_frac`` of the train lines),
``zero_loss_diff`` = mean share of ZO queries whose integer loss difference was zero,
``perturb_lsb`` = ZO perturbation in weight LSBs.

User mistakes raise :class:`~fotrain.sw.errors.FotrainError` (one line, exit 2): bits outside
2..32, an unknown preset or rounding, an unwritable output directory, a preset whose method has
no fixed-point numerics.
"""

from __future__ import annotations

import csv
import json
import math
import multiprocessing
import os
import statistics
import time
import tomllib
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ACCURACY_TOL",
    "DEFAULT_OUT",
    "DEFAULT_STUDY",
    "L2_FACTOR",
    "Entry",
    "RunSpec",
    "StudyItem",
    "collect_rows",
    "compare",
    "min_word_lengths",
    "parse_bits",
    "parse_roundings",
    "plan_runs",
    "resolve_default_study",
    "run_sweep",
    "scale_config",
    "write_plots",
    "write_report",
    "write_results",
]

BITS_RANGE = (2, 32)
ACCURACY_TOL = 0.5  # points of test accuracy
L2_FACTOR = 2.0  # relative L2 within this factor of float
DEFAULT_OUT = "docs/compare"
ZO_METHODS = ("zo", "hybrid")
LOCAL_METHODS = ("tpsgd", "drtp", "dfa", "sdfa", "shallow", "bp")
CSV_FIELDS = ("label", "preset", "method", "task", "numerics", "bits", "rounding", "seed",
              "metric_name", "metric", "best_metric", "status", "saturation", "underflow",
              "zero_loss_diff", "perturb_lsb", "weight_format", "act_format", "acc_format",
              "forward_passes", "steps", "wall_s", "run_dir", "message")


def _err(msg: str):
    from .sw.errors import FotrainError

    return FotrainError(msg)


# -- parsing -----------------------------------------------------------------------------------
def parse_bits(text: str | Sequence[int]) -> tuple[int, ...]:
    """``"4,6,8"`` -> ``(4, 6, 8)`` (sorted, unique); every value must lie in 2..32."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = set()
    for item in items:
        try:
            b = int(str(item).strip())
        except ValueError:
            raise _err(f"--bits: expected comma-separated integers, got {str(item)!r}") from None
        if not BITS_RANGE[0] <= b <= BITS_RANGE[1]:
            raise _err(f"--bits: {b} is outside {BITS_RANGE[0]}..{BITS_RANGE[1]}")
        out.add(b)
    if not out:
        raise _err("--bits: give at least one word length")
    return tuple(sorted(out))


def parse_roundings(text: str | Sequence[str] | None) -> tuple[str | None, ...]:
    """``"TRN,RND"`` -> ``("TRN", "RND")``; ``None`` -> ``(None,)`` (keep the preset's rounding)."""
    if text is None:
        return (None,)
    from .sw.qformat import Rounding

    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in items:
        try:
            name = Rounding.from_string(item).name
        except Exception as e:  # FormatError: one line naming the choices
            raise _err(f"--rounding: {e}") from None
        if name not in out:
            out.append(name)
    if not out:
        raise _err("--rounding: give at least one mode")
    return tuple(out)


# -- the scaling rule --------------------------------------------------------------------------
def _acc_for(cfg, weight, act, acc0):
    """``acc0`` resized: ``frac = act.frac + weight.frac``, the width validation demands."""
    from .sw.config import FormatConfig
    from .sw.qformat import MAX_BITS

    frac = act.frac + weight.frac
    probe = FormatConfig(weight=weight, act=act, acc=acc0.with_(width=MAX_BITS, frac=frac))
    need = 0
    for layer in cfg.layers:
        ks = layer.contraction_lengths
        for k, terms in enumerate(ks):
            need = max(need, probe.acc_bits_needed(terms, bias=layer.bias and k == len(ks) - 1))
    if need > MAX_BITS:
        raise _err(f"compare: {cfg.name} with weight {weight} and act {act} needs a {need}-bit "
                   f"accumulator; the golden model's integers stop at {MAX_BITS} bits (use "
                   "shorter word lengths)")
    return acc0.with_(width=need, frac=frac)


def _apply_format_sets(cfg, sets: Sequence[str]):
    """Apply ``formats.*`` assignments; re-derive ``acc`` unless one of them touches it."""
    from .sw.config import FormatConfig
    from .sw.errors import ConfigError, FotrainError

    if not sets:
        return cfg
    d = cfg.formats.to_dict()
    touched_acc = False
    for text in sets:
        key, _, raw = text.partition("=")
        parts = key.strip().split(".")[1:]
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        if not parts or parts[0] not in d or len(parts) > 2:
            raise ConfigError(f"--set {key.strip()}: unknown key (formats.weight|act|acc[.field])")
        touched_acc |= parts[0] == "acc"
        if len(parts) == 1:
            d[parts[0]] = value
        else:
            if not isinstance(d[parts[0]], dict) or parts[1] not in d[parts[0]]:
                raise ConfigError(f"--set {key.strip()}: unknown key {parts[1]!r}")
            d[parts[0]][parts[1]] = value
    if not touched_acc:
        from .sw.qformat import QFormat

        try:
            w, a = (v if isinstance(v, QFormat) else QFormat.from_string(v) if isinstance(
                v, str) else QFormat(**v) for v in (d["weight"], d["act"]))
        except (TypeError, FotrainError) as e:
            raise ConfigError(f"--set formats: {e}") from None
        d["acc"] = _acc_for(cfg, w, a, cfg.formats.acc).to_dict()
    return cfg.replace(formats=FormatConfig.from_dict(d))


def _split_sets(sets: Sequence[str]) -> tuple[list[str], list[str]]:
    fmt = [s for s in sets if s.strip().startswith("formats")]
    return fmt, [s for s in sets if not s.strip().startswith("formats")]


def scale_config(cfg, bits: int, rounding: str | None = None, sets: Sequence[str] = ()):
    """``cfg`` as a fixed-point run at word length ``bits`` (module docstring's rule), then
    ``sets`` (``key=value`` overrides; ``formats.*`` ones re-derive ``acc`` unless they set it)."""
    from .sw.config import FormatConfig

    bits = parse_bits([bits])[0]
    f0 = cfg.formats
    rnd = {} if rounding is None else {"rounding": rounding}

    def scaled(q):
        return q.with_(width=bits, frac=max(bits - q.integer, 0), **rnd)

    w, a = scaled(f0.weight), scaled(f0.act)
    acc = _acc_for(cfg, w, a, f0.acc.with_(**rnd))
    changes: dict[str, Any] = {"formats": FormatConfig(weight=w, act=a, acc=acc)}
    method = cfg.train.method
    if method in ZO_METHODS:
        shift = w.frac - f0.weight.frac
        mu = cfg.zo.fixed_mu_lsb
        lsb = mu << shift if shift >= 0 else (mu + (1 << (-shift - 1))) >> -shift
        changes["zo"] = cfg.zo.__class__(**{**cfg.zo.to_dict(), "fixed_mu_lsb": max(1, lsb)})
    if method in LOCAL_METHODS:
        gw = cfg.local.fixed_grad_width - 2 * f0.act.frac + 2 * a.frac
        changes["local"] = cfg.local.__class__(**{**cfg.local.to_dict(),
                                                  "fixed_grad_width": min(max(gw, 16), 48)})
    changes["train"] = cfg.train.__class__(**{**cfg.train.to_dict(), "numerics": "fixed"})
    out = cfg.replace(**changes)
    fmt_sets, other = _split_sets(sets)
    out = _apply_format_sets(out, fmt_sets)
    return out.with_overrides(other) if other else out


# -- planning ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One preset of a study: ``label`` (directory name), budget ``overrides`` applied first."""

    label: str
    preset: str
    overrides: tuple[str, ...] = ()
    bits: tuple[int, ...] = (8, 16)
    roundings: tuple[str | None, ...] = (None,)
    seeds: int = 1
    title: str = ""
    note: str = ""


@dataclass(frozen=True)
class StudyItem:
    """A curated study slot: the first ``candidates`` preset (name, extra overrides) that exists
    and has fixed-point numerics is used; none -> the slot is listed as missing."""

    label: str
    title: str
    candidates: tuple[tuple[str, tuple[str, ...]], ...]
    overrides: tuple[str, ...]
    bits: tuple[int, ...]
    roundings: tuple[str | None, ...]
    seeds: int


@dataclass
class RunSpec:
    """One planned training run."""

    label: str
    preset: str
    numerics: str
    bits: int | None
    rounding: str | None
    seed: int
    cfg: Any
    run_dir: Path
    status: str = "pending"  # pending | resume | done | failed
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``label/run-directory-name`` (progress and messages)."""
        return f"{self.label}/{self.run_dir.name}"


_ZO_BUDGET = ("train.train_limit=12800", "train.test_limit=2000", "train.epochs=1")
# the hybrid presets' two epochs (RGE, then coordinate descent) on half the images each
_HYBRID_BUDGET = ("train.train_limit=6400", "train.test_limit=2000", "train.epochs=2",
                  "zo.switch_epoch=1")
_LOCAL_BUDGET = ("train.train_limit=20000", "train.test_limit=5000", "train.epochs=1")
_LOCAL_BITS = (4, 6, 8, 10, 12, 14, 16)  # local_fixed's bias alignment needs <= 62-bit ints
# The float MNIST MLP presets shift their training images (train.augment_shift = 1); the study
# compares them with the fixed16 presets, which do not, so it pins the shift to 0.

#: The curated default study (``fotrain compare --default``, about 14 min on 2 cores); see
#: ``docs/COMPARE.md``. Budgets: ZO 100 steps (12,800 images, 1 epoch, its cosine schedule
#: complete), hybrid 50 RGE + 50 coordinate-descent steps, local rules 200 steps (20,000
#: images, 1 epoch); 2 seeds each.
DEFAULT_STUDY: tuple[StudyItem, ...] = (
    StudyItem("zo-tt", "ZO-TT MNIST (integer ZO step)", (("mnist-tt-zo-fixed16", ()),),
              _ZO_BUDGET, (6, 8, 10, 12, 16), ("RND",), 2),
    StudyItem("hybrid-tt", "hybrid ZO-TT MNIST",
              (("mnist-tt-hybrid-fixed16", ()),),
              _HYBRID_BUDGET, (6, 8, 10, 12, 16), ("RND",), 2),
    StudyItem("tpsgd-mlp", "tpSGD MLP MNIST",
              (("mnist-mlp-tpsgd-fixed16", ()), ("mnist-mlp-tpsgd", ("train.augment_shift=0",))),
              _LOCAL_BUDGET, _LOCAL_BITS, ("TRN", "RND"), 2),
    StudyItem("drtp-mlp", "DRTP MLP MNIST",
              (("mnist-mlp-drtp-fixed16", ()), ("mnist-mlp-drtp", ("train.augment_shift=0",)),
               ("mnist-mlp-tpsgd-fixed16", ("train.method=drtp",))),
              _LOCAL_BUDGET, _LOCAL_BITS, ("RND",), 2),
    # The integer PINN step evaluates 14,448 fixed-point networks (~0.5 s per step on one idle
    # core; sweep runs use one process each), so the HJB slot gets one epoch (100 steps, its
    # cosine schedule complete), 3 word lengths and 1 seed (about 1 min per fixed run).
    StudyItem("hjb20", "HJB-20d TT-PINN",
              (("hjb20-tt-zo-fixed16", ()), ("hjb20-tt-zo", ())),
              ("train.epochs=1",), (12, 16, 20), ("RND",), 1),
)


def _check_fixed(cfg, label: str) -> None:
    """Raise a one-line error unless ``cfg``'s method has fixed-point numerics."""
    from .sw.errors import FotrainError
    from .sw.train.registry import make_method

    try:
        make_method(cfg, seed=0)
    except FotrainError as e:
        raise _err(f"compare: {label}: method {cfg.train.method!r} has no fixed-point numerics "
                   f"for this config ({e})") from None


def _base_config(preset: str, overrides: Sequence[str]):
    from .sw.config import load_config

    cfg = load_config(preset)
    return cfg.with_overrides(list(overrides)) if overrides else cfg


def resolve_default_study(study: Sequence[StudyItem] = DEFAULT_STUDY
                          ) -> tuple[list[Entry], list[dict[str, str]]]:
    """The study's entries that can run here, and the missing slots with the reason."""
    from .sw.config import preset_names
    from .sw.errors import FotrainError

    names = set(preset_names())
    entries: list[Entry] = []
    missing: list[dict[str, str]] = []
    for item in study:
        reasons = []
        for preset, extra in item.candidates:
            if preset not in names:
                reasons.append(f"{preset}: no such preset")
                continue
            overrides = (*item.overrides, *extra)
            try:
                base = _base_config(preset, overrides)
                _check_fixed(base.with_overrides(["train.numerics=fixed"]), preset)
            except FotrainError as e:
                reasons.append(str(e).removeprefix("compare: "))
                continue
            note = (f"derived: preset {preset} with {', '.join(extra)} (no fixed-point preset "
                    f"of this method; the earlier candidates: {'; '.join(reasons)})"
                    if extra else "")
            entries.append(Entry(item.label, preset, overrides, item.bits, item.roundings,
                                 item.seeds, item.title, note))
            break
        else:
            missing.append({"label": item.label, "title": item.title,
                            "reason": "; ".join(reasons)})
    return entries, missing


def plan_runs(entries: Sequence[Entry], runs_dir: Path, sets: Sequence[str] = ()
              ) -> list[RunSpec]:
    """Every run of the sweep with its validated config (errors are one-line FotrainErrors)."""
    fmt_sets, other = _split_sets(sets)
    specs: list[RunSpec] = []
    seen: set[str] = set()
    for e in entries:
        if e.label in seen:
            continue
        seen.add(e.label)
        base = _base_config(e.preset, e.overrides)
        fixed0 = base.with_overrides(["train.numerics=fixed"])
        _check_fixed(fixed0, e.preset)
        flt = base.with_overrides(["train.numerics=float", *other])
        for seed in range(e.seeds):
            cfg = flt.with_overrides([f"train.seed={seed}"])
            specs.append(RunSpec(e.label, e.preset, "float", None, None, seed, cfg,
                                 runs_dir / e.label / f"float-s{seed}"))
        for bits in e.bits:
            for rnd in e.roundings:
                scaled = scale_config(fixed0, bits, rnd, [*fmt_sets, *other])
                tag = rnd or _rounding_label(scaled)
                for seed in range(e.seeds):
                    cfg = scaled.with_overrides([f"train.seed={seed}"])
                    specs.append(RunSpec(e.label, e.preset, "fixed", bits, tag, seed, cfg,
                                         runs_dir / e.label / f"fixed-b{bits}-{tag}-s{seed}"))
    return specs


def _rounding_label(cfg) -> str:
    names = {getattr(cfg.formats, k).rounding.name for k in ("weight", "act", "acc")}
    return names.pop() if len(names) == 1 else "mixed"


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    if isinstance(d, list) and d and isinstance(d[0], dict):
        out = {}
        for i, v in enumerate(d):
            out.update(_flat(v, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: d}


def _classify(spec: RunSpec) -> None:
    """Set ``spec.status`` from what its directory holds; refuse a foreign run there."""
    from .sw.config import load_config

    d = spec.run_dir
    saved = d / "config.toml"
    if saved.is_file():
        have, want = _flat(load_config(saved).to_dict()), _flat(spec.cfg.to_dict())
        diff = [k for k in want if have.get(k) != want[k]] + [k for k in have if k not in want]
        if not (d / "summary.json").is_file():  # resuming adopts the planned run length
            diff = [k for k in diff if k not in ("train.epochs", "train.max_steps")]
        if diff:
            k = diff[0]
            raise _err(f"compare: {d} holds a run of another config ({k} = {have.get(k)!r}, "
                       f"planned {want.get(k)!r}); use a fresh --out/--runs or delete it")
    if (d / "summary.json").is_file():
        spec.status = "done"
    elif (d / "failed.json").is_file():
        spec.status = "failed"
    elif (d / "checkpoint.npz").is_file():
        spec.status = "resume"
    else:
        spec.status = "pending"


# -- running -----------------------------------------------------------------------------------
def _execute(job: dict[str, Any]) -> dict[str, Any]:
    """Worker: train one run; deterministic failures leave ``failed.json`` (not retried)."""
    from .sw.config import Config
    from .sw.errors import FotrainError
    from .sw.train.session import run_training
    from .sw.train.trainer import TrainingDiverged

    out = Path(job["out"])
    t0 = time.perf_counter()
    try:
        run_training(Config.from_json(job["cfg"]), out, resume=job["resume"],
                     data_dir=job["data_dir"], progress=False)
    except FotrainError as e:
        status = "diverged" if isinstance(e, TrainingDiverged) else "error"
        rec = {"status": status, "message": str(e), "error": type(e).__name__}
        out.mkdir(parents=True, exist_ok=True)
        (out / "failed.json").write_text(json.dumps(rec, indent=2) + "\n")
        return {**rec, "seconds": time.perf_counter() - t0}
    except Exception as e:  # a bug: reported, not marked, so a rerun tries again
        tb = traceback.format_exc(limit=3).strip().splitlines()
        return {"status": "crashed", "message": f"{type(e).__name__}: {e}",
                "traceback": tb[-6:], "seconds": time.perf_counter() - t0}
    if not job["keep_checkpoints"]:
        (out / "checkpoint.npz").unlink(missing_ok=True)
    return {"status": "done", "message": "", "seconds": time.perf_counter() - t0}


class _ThreadEnv:
    """Limit BLAS threads of spawned workers (restored afterwards)."""

    KEYS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

    def __init__(self, threads: int):
        self.threads, self.saved = str(threads), {}

    def __enter__(self):
        for k in self.KEYS:
            self.saved[k] = os.environ.get(k)
            if self.saved[k] is None:
                os.environ[k] = self.threads
        return self

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)


def run_sweep(specs: Sequence[RunSpec], *, jobs: int = 2, data_dir: str | None = None,
              progress: bool = True, keep_checkpoints: bool = False,
              on_result: Callable[[RunSpec, dict[str, Any]], None] | None = None
              ) -> dict[str, dict[str, Any]]:
    """Run every unfinished spec (``jobs`` workers; ``jobs == 1`` runs in this process).

    Returns ``{run_dir: outcome}`` for the runs executed now. ``on_result`` is called in this
    process after each run (an exception from it stops the sweep; finished runs stay finished).
    """
    from tqdm import tqdm

    for s in specs:
        _classify(s)
    todo = [s for s in specs if s.status in ("pending", "resume")]
    # long runs first (fixed-point ZO is the slowest) so the last worker is not left alone
    todo.sort(key=lambda s: (s.numerics != "fixed", s.cfg.train.method not in ZO_METHODS))
    outcomes: dict[str, dict[str, Any]] = {}
    bar = tqdm(total=len(specs), initial=len(specs) - len(todo), disable=not progress,
               desc="compare", unit="run", dynamic_ncols=True)

    def job(s: RunSpec) -> dict[str, Any]:
        return {"cfg": s.cfg.to_json(), "out": str(s.run_dir), "resume": s.status == "resume",
                "data_dir": None if data_dir is None else str(data_dir),
                "keep_checkpoints": keep_checkpoints}

    def finished(s: RunSpec, res: dict[str, Any]) -> None:
        outcomes[str(s.run_dir)] = res
        s.status = "done" if res["status"] == "done" else "failed"
        bar.update(1)
        bar.set_postfix_str(f"{s.name}: {res['status']}")
        if res["status"] == "crashed":
            bar.write(f"fotrain: warning: {s.name} crashed: {res['message']}")
        if on_result is not None:
            on_result(s, res)

    try:
        if jobs <= 1 or len(todo) <= 1:
            for s in todo:
                finished(s, _execute(job(s)))
        else:
            workers = min(jobs, len(todo))
            ctx = multiprocessing.get_context("spawn")
            with _ThreadEnv(max(1, (os.cpu_count() or 1) // workers)), \
                    ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                futures: dict[Future, RunSpec] = {pool.submit(_execute, job(s)): s for s in todo}
                pending = set(futures)
                try:
                    while pending:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in done:
                            finished(futures[fut], fut.result())
                except BaseException:
                    for fut in pending:
                        fut.cancel()
                    raise
    finally:
        bar.close()
    return outcomes


# -- results -----------------------------------------------------------------------------------
def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # a line cut by an interruption
    return out


_BOOKKEEPING = {"kind", "epoch", "step", "lr", "forward_passes", "wall_s"}


def _headline(summary: dict[str, Any], evals: list[dict[str, Any]]) -> str | None:
    for key in ("test_accuracy", "rel_l2"):
        if key in summary:
            return key
    for rec in reversed(evals):
        for k, v in rec.items():
            if k not in _BOOKKEEPING and isinstance(v, int | float):
                return k
    return None


def _mean(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    return statistics.fmean(vals) if vals else None


def collect_rows(specs: Sequence[RunSpec], runs_root: Path | None = None,
                 outcomes: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per planned run, read back from its directory (``summary.json``, ``metrics``)."""
    rows = []
    for s in specs:
        d = s.run_dir
        lines = _read_jsonl(d / "metrics.jsonl")
        train = [r for r in lines if r.get("kind") == "train"]
        evals = [r for r in lines if r.get("kind") == "eval"]
        summary = json.loads((d / "summary.json").read_text()) if (
            d / "summary.json").is_file() else {}
        failed = json.loads((d / "failed.json").read_text()) if (
            d / "failed.json").is_file() else {}
        outcome = (outcomes or {}).get(str(d), {})
        if summary:
            status, message = "ok", ""
        elif failed:
            status, message = failed.get("status", "error"), failed.get("message", "")
        elif outcome:
            status, message = outcome.get("status", "crashed"), outcome.get("message", "")
        else:
            status, message = "missing", "not run"
        key = _headline(summary, evals)
        metric = summary.get(key) if key else None
        sat = summary.get("overflow_events")
        if sat is None:
            for r in reversed(train):
                if "sat_total" in r or "overflow_events" in r:
                    sat = r.get("sat_total", r.get("overflow_events"))
                    break
        f = s.cfg.formats
        fixed = s.numerics == "fixed"
        rows.append({
            "label": s.label, "preset": s.preset, "method": s.cfg.train.method,
            "task": s.cfg.train.task, "numerics": s.numerics, "bits": s.bits,
            "rounding": s.rounding or "", "seed": s.seed, "metric_name": key,
            "metric": metric, "best_metric": summary.get(f"best_{key}") if key else None,
            "status": status,
            "saturation": int(sat) if isinstance(sat, int | float) else None,
            "underflow": _mean(r.get("zero_update_frac") for r in train),
            "zero_loss_diff": _mean(r.get("zero_loss_diff_frac") for r in train),
            "perturb_lsb": _mean(r.get("perturb_lsb") for r in train),
            "weight_format": str(f.weight) if fixed else "",
            "act_format": str(f.act) if fixed else "",
            "acc_format": str(f.acc) if fixed else "",
            "forward_passes": summary.get("train_forward_passes"),
            "steps": summary.get("steps"), "wall_s": summary.get("wall_s"),
            "run_dir": str(d.relative_to(runs_root)) if runs_root and d.is_relative_to(
                runs_root) else str(d),
            "message": message,
            "saturation_by_site": summary.get("overflow_by_site"),
            "curve": [{"step": r.get("step"), "epoch": r.get("epoch"),
                       "forward_passes": r.get("forward_passes"), "value": r.get(key)}
                      for r in evals if key in r],
            "loss_curve": [{"step": r.get("step"), "loss": r.get("loss")} for r in train],
        })
    return rows


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_results(rows: Sequence[dict[str, Any]], out: Path, meta: dict[str, Any]) -> None:
    """``OUT/results.csv`` (the scalar columns) and ``OUT/results.json`` (``meta`` + rows)."""
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r[k]) for k in CSV_FIELDS})
    _atomic_write(out / "results.csv", buf.getvalue())
    _atomic_write(out / "results.json", json.dumps({**meta, "rows": list(rows)}, indent=1)
                  + "\n")


def _higher_better(metric_name: str | None) -> bool:
    return metric_name is None or "acc" in metric_name


def _within(value: float, ref: float, metric_name: str | None) -> bool:
    if _higher_better(metric_name):
        return value >= ref - ACCURACY_TOL
    return value <= ref * L2_FACTOR


def min_word_lengths(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (label, rounding): float mean, and the smallest tested word length whose seed mean is
    within tolerance with every larger tested word length within tolerance too (a bit width
    with a failed seed counts as outside)."""
    out = []
    labels = list(dict.fromkeys(r["label"] for r in rows))
    for label in labels:
        mine = [r for r in rows if r["label"] == label]
        floats = [r["metric"] for r in mine if r["numerics"] == "float" and r["status"] == "ok"]
        ref = _mean(floats)
        name = next((r["metric_name"] for r in mine if r["metric_name"]), None)
        for rnd in dict.fromkeys(r["rounding"] for r in mine if r["numerics"] == "fixed"):
            per_bits: dict[int, float | None] = {}
            for b in sorted({r["bits"] for r in mine if r["rounding"] == rnd and r["bits"]}):
                runs = [r for r in mine if r["bits"] == b and r["rounding"] == rnd]
                ok = all(r["status"] == "ok" and r["metric"] is not None for r in runs)
                per_bits[b] = _mean(r["metric"] for r in runs) if ok else None
            best = None
            if ref is not None:
                for b in sorted(per_bits, reverse=True):
                    v = per_bits[b]
                    if v is None or not _within(v, ref, name):
                        break
                    best = b
            out.append({"label": label, "preset": mine[0]["preset"],
                        "method": mine[0]["method"], "rounding": rnd, "metric_name": name,
                        "float": ref, "min_bits": best, "per_bits": per_bits,
                        "tolerance": (f"{ACCURACY_TOL} pt" if _higher_better(name)
                                      else f"{L2_FACTOR:g}x")})
    return out


# -- plots -------------------------------------------------------------------------------------
def _grid(n: int):
    import matplotlib.pyplot as plt

    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.9 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def _pick_curve_bits(bits: Sequence[int], n: int = 4) -> list[int]:
    bits = sorted(set(bits))
    if len(bits) <= n:
        return bits
    idx = sorted({round(i * (len(bits) - 1) / (n - 1)) for i in range(n)})
    return [bits[i] for i in idx]


def write_plots(rows: Sequence[dict[str, Any]], out: Path,
                curve_bits: Sequence[int] | None = None) -> list[str]:
    """``metric_vs_bits.png``, ``learning_curves.png``, ``saturation_underflow.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(r["label"] for r in rows))
    if not labels:
        return []
    files = []
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    # 1. metric vs bits, seed spread, float line
    fig, axes = _grid(len(labels))
    for ax, label in zip(axes, labels, strict=False):
        mine = [r for r in rows if r["label"] == label]
        name = next((r["metric_name"] for r in mine if r["metric_name"]), "metric")
        floats = [r["metric"] for r in mine if r["numerics"] == "float" and r["status"] == "ok"
                  and r["metric"] is not None]
        if floats:
            ax.axhline(statistics.fmean(floats), color="k", ls="--", lw=1, label="float")
            if len(floats) > 1:
                ax.axhspan(min(floats), max(floats), color="k", alpha=0.08)
        for i, rnd in enumerate(dict.fromkeys(r["rounding"] for r in mine
                                              if r["numerics"] == "fixed")):
            c = colors[i % len(colors)]
            fx = [r for r in mine if r["numerics"] == "fixed" and r["rounding"] == rnd]
            bits = sorted({r["bits"] for r in fx})
            means, lo, hi, xs = [], [], [], []
            for b in bits:
                vals = [r["metric"] for r in fx if r["bits"] == b and r["status"] == "ok"
                        and r["metric"] is not None]
                ax.scatter([b] * len(vals), vals, color=c, s=12, alpha=0.6)
                failed = [r for r in fx if r["bits"] == b and r["status"] != "ok"]
                if failed:
                    ax.scatter([b], [0.02], transform=ax.get_xaxis_transform(), marker="x",
                               color=c, s=40)
                if vals:
                    xs.append(b)
                    means.append(statistics.fmean(vals))
                    lo.append(min(vals))
                    hi.append(max(vals))
            if xs:
                ax.plot(xs, means, "o-", color=c, label=f"fixed {rnd}")
                ax.fill_between(xs, lo, hi, color=c, alpha=0.15)
        if not _higher_better(name):
            ax.set_yscale("log")
        ax.set_title(f"{label} ({mine[0]['method']})")
        ax.set_xlabel("word length (bits)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Final metric vs word length", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "metric_vs_bits.png", dpi=110)
    plt.close(fig)
    files.append("metric_vs_bits.png")

    # 2. learning curves: eval metric (top) and train loss (bottom) vs step
    fig, ax2 = plt.subplots(2, len(labels), figsize=(5.2 * len(labels), 7.2), squeeze=False)
    for j, label in enumerate(labels):
        mine = [r for r in rows if r["label"] == label]
        name = next((r["metric_name"] for r in mine if r["metric_name"]), "metric")
        seed = min(r["seed"] for r in mine)
        rnd = next((r["rounding"] for r in mine if r["numerics"] == "fixed"), "")
        fixed_bits = sorted({r["bits"] for r in mine if r["numerics"] == "fixed"})
        chosen = [b for b in (curve_bits or _pick_curve_bits(fixed_bits)) if b in fixed_bits]
        picks = [(r, "float", "k") for r in mine if r["numerics"] == "float"
                 and r["seed"] == seed]
        for i, b in enumerate(chosen):
            picks += [(r, f"{b} bit {rnd}", colors[i % len(colors)]) for r in mine
                      if r["bits"] == b and r["rounding"] == rnd and r["seed"] == seed]
        for r, lab, c in picks:
            pts = [(p["step"], p["value"]) for p in r["curve"] if p["value"] is not None]
            if pts:
                ax2[0][j].plot(*zip(*pts, strict=True), "o-", color=c, label=lab, ms=3)
            lpts = [(p["step"], p["loss"]) for p in r["loss_curve"] if p["loss"] is not None]
            if lpts:
                ax2[1][j].plot(*zip(*lpts, strict=True), "-", color=c, label=lab)
        ax2[0][j].set_title(f"{label}: {name} (seed {seed})")
        ax2[1][j].set_title(f"{label}: train loss")
        if not _higher_better(name):
            ax2[0][j].set_yscale("log")
        for ax in (ax2[0][j], ax2[1][j]):
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "learning_curves.png", dpi=110)
    plt.close(fig)
    files.append("learning_curves.png")

    # 3. saturation events and zero-update share vs bits
    fig, ax3 = plt.subplots(2, len(labels), figsize=(5.2 * len(labels), 7.2), squeeze=False)
    for j, label in enumerate(labels):
        mine = [r for r in rows if r["label"] == label and r["numerics"] == "fixed"]
        for i, rnd in enumerate(dict.fromkeys(r["rounding"] for r in mine)):
            c = colors[i % len(colors)]
            fx = [r for r in mine if r["rounding"] == rnd]
            bits = sorted({r["bits"] for r in fx})
            for k, key in enumerate(("saturation", "underflow")):
                pts = [(b, _mean(r[key] for r in fx if r["bits"] == b)) for b in bits]
                pts = [(b, v) for b, v in pts if v is not None]
                if pts:
                    ax3[k][j].plot(*zip(*pts, strict=True), "o-", color=c, label=f"{rnd}")
        ax3[0][j].set_yscale("symlog", linthresh=1)
        ax3[0][j].set_title(f"{label}: saturation events")
        ax3[1][j].set_title(f"{label}: share of updates rounded to 0")
        ax3[1][j].set_ylim(-0.02, 1.02)
        for ax in (ax3[0][j], ax3[1][j]):
            ax.set_xlabel("word length (bits)")
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=8)
            else:
                ax.text(0.5, 0.5, "not reported by this method", ha="center",
                        transform=ax.transAxes, fontsize=9, color="0.4")
    fig.tight_layout()
    fig.savefig(out / "saturation_underflow.png", dpi=110)
    plt.close(fig)
    files.append("saturation_underflow.png")
    return files


# -- report ------------------------------------------------------------------------------------
def _fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) >= 1e-2 or v == 0 else f"{v:.3g}"
    return str(v)


def write_report(rows: Sequence[dict[str, Any]], out: Path, meta: dict[str, Any],
                 plots: Sequence[str]) -> str:
    """``OUT/report.md``: study, minimum word lengths, plots, per-bit table, failures."""
    mins = min_word_lengths(rows)
    lines = ["# Fixed-point vs float training", "",
             f"Generated by `{meta.get('command', 'fotrain compare')}` "
             f"({len(rows)} runs, {meta.get('wall_s', 0) / 60:.1f} min for the runs done in "
             "the last invocation). Rule for word length `b`: weight and act `b` bits with the "
             "preset's integer bits, accumulator `frac = act.frac + weight.frac` and the width "
             "validation demands (see `fotrain/compare.py`).", "",
             "## Study", "", "| label | preset | method | budget overrides | note |",
             "|---|---|---|---|---|"]
    for e in meta.get("entries", []):
        lines.append(f"| {e['label']} | `{e['preset']}` | {e['method']} | "
                     f"{', '.join(f'`{o}`' for o in e['overrides']) or '-'} | "
                     f"{e.get('note') or ''} |")
    if meta.get("sets"):
        lines += ["", "Overrides for every run: " + ", ".join(f"`{s}`" for s in meta["sets"])]
    missing = meta.get("missing") or []
    if missing:
        lines += ["", "### Not covered", ""]
        for m in missing:
            lines.append(f"- **{m['title']}** (`{m['label']}`): {m['reason']}")
    lines += ["", "## Smallest word length within tolerance of float", "",
              f"Tolerance: {ACCURACY_TOL} points of test accuracy (classification) or "
              f"{L2_FACTOR:g}x the relative L2 error (PINN), on the mean over seeds; every "
              "larger tested word length must be within tolerance too.", "",
              "| label | method | rounding | metric | float (mean) | smallest word length |",
              "|---|---|---|---|---|---|"]
    for m in mins:
        tested = sorted(m["per_bits"])
        verdict = (f"**{m['min_bits']} bits**" if m["min_bits"] is not None else
                   f"none of {tested[0]}..{tested[-1]} bits" if tested else "-")
        lines.append(f"| {m['label']} | {m['method']} | {m['rounding']} | {m['metric_name']} | "
                     f"{_fmt(m['float'])} | {verdict} |")
    lines += ["", "## Plots", ""]
    captions = {"metric_vs_bits.png": "Final metric vs word length (dots: seeds; band: seed "
                                      "range; dashed: float mean; x: a failed run)",
                "learning_curves.png": "Learning curves, float vs chosen word lengths",
                "saturation_underflow.png": "Saturation events and zero-update share vs word "
                                            "length"}
    for p in plots:
        lines += [f"![{captions.get(p, p)}]({p})", ""]
    lines += ["## Per word length (mean over seeds; min..max in brackets)", "",
              "| label | numerics | bits | rounding | metric | vs float | saturation | "
              "zero updates | zero loss diffs | perturb LSB | forward passes | wall s | "
              "status |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["label"], r["numerics"], r["bits"] or 0, r["rounding"]),
                          []).append(r)
    for (label, numerics, bits, rnd), rs in groups.items():
        ref = next((m["float"] for m in mins if m["label"] == label), None)
        if ref is None:
            ref = _mean(r["metric"] for r in rows if r["label"] == label
                        and r["numerics"] == "float" and r["status"] == "ok")
        vals = [r["metric"] for r in rs if r["status"] == "ok" and r["metric"] is not None]
        mean = _mean(vals)
        metric = (f"{_fmt(mean)} [{_fmt(min(vals))}..{_fmt(max(vals))}]" if len(vals) > 1
                  else _fmt(mean))
        name = rs[0]["metric_name"]
        if mean is None or ref is None or numerics == "float":
            delta = "-"
        elif _higher_better(name):
            delta = f"{mean - ref:+.2f} pt"
        else:
            delta = f"{mean / ref:.2f}x" if ref else "-"
        statuses = sorted({r["status"] for r in rs})
        lines.append(
            f"| {label} | {numerics} | {bits or '-'} | {rnd or '-'} | {metric} | {delta} | "
            f"{_fmt(_mean(r['saturation'] for r in rs), 0)} | "
            f"{_fmt(_mean(r['underflow'] for r in rs), 3)} | "
            f"{_fmt(_mean(r['zero_loss_diff'] for r in rs), 3)} | "
            f"{_fmt(_mean(r['perturb_lsb'] for r in rs), 0)} | "
            f"{_fmt(_mean(r['forward_passes'] for r in rs), 0)} | "
            f"{_fmt(_mean(r['wall_s'] for r in rs), 1)} | {', '.join(statuses)} |")
    lines += ["", "Columns: *saturation* = overflow/saturation events counted by the fixed-point "
              "trainer over the run (ZO: every site incl. updates; local rules: the last logged "
              "`sat_total`); *zero updates* = mean share of parameter updates that rounded to "
              "zero (the update fell below one LSB); *zero loss diffs* = mean share of ZO "
              "queries whose integer loss difference was 0 (the perturbation was lost in "
              "rounding); *perturb LSB* = ZO perturbation in weight LSBs."]
    sites = []
    for label in dict.fromkeys(r["label"] for r in rows):
        fx = [r for r in rows if r["label"] == label and r["numerics"] == "fixed"
              and r.get("saturation_by_site")]
        if fx:
            low = min(fx, key=lambda r: r["bits"])
            top = sorted(low["saturation_by_site"].items(), key=lambda kv: -kv[1])[:4]
            top = [f"`{k}` {v}" for k, v in top if v]
            if top:
                sites.append(f"- {label} at {low['bits']} bits (seed {low['seed']}): "
                             + ", ".join(top))
    if sites:
        lines += ["", "Saturation by tensor at the shortest word length:", "", *sites]
    bad = [r for r in rows if r["status"] != "ok"]
    if bad:
        lines += ["", "## Runs without a final metric", ""]
        for r in bad:
            lines.append(f"- `{r['run_dir']}`: {r['status']}: {r['message']}")
    text = "\n".join(lines) + "\n"
    _atomic_write(out / "report.md", text)
    return text


# -- the whole command -------------------------------------------------------------------------
def _writable_dir(path: Path, flag: str) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".fotrain-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise _err(f"{flag}: cannot write to {str(path)!r} ({e.strerror or e})") from None
    return path


def compare(entries: Sequence[Entry], out: str | Path, *, runs_dir: str | Path | None = None,
            sets: Sequence[str] = (), jobs: int = 2, data_dir: str | None = None,
            progress: bool = True, keep_checkpoints: bool = False,
            missing: Sequence[dict[str, str]] = (), command: str = "fotrain compare",
            curve_bits: Sequence[int] | None = None, dry_run: bool = False,
            on_result: Callable[[RunSpec, dict[str, Any]], None] | None = None,
            log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Plan, run (resuming), collect, and write results, plots and the report into ``out``.

    Returns ``{"rows", "min_bits", "files", "executed", "specs"}``. With ``dry_run`` only the
    plan is made (and validated); nothing is written or run.
    """
    out = Path(out)
    runs = Path(runs_dir) if runs_dir is not None else out / "runs"
    if not entries:
        raise _err("compare: nothing to run (no preset with fixed-point numerics)")
    specs = plan_runs(entries, runs, sets)
    if dry_run:
        for s in specs:
            _classify(s)
        return {"rows": [], "min_bits": [], "files": [], "executed": {}, "specs": specs}
    _writable_dir(out, "--out")
    _writable_dir(runs, "--runs")
    t0 = time.perf_counter()
    executed = run_sweep(specs, jobs=jobs, data_dir=data_dir, progress=progress,
                         keep_checkpoints=keep_checkpoints, on_result=on_result)
    wall = time.perf_counter() - t0
    rows = collect_rows(specs, runs, executed)
    meta = {"command": command, "wall_s": wall, "sets": list(sets),
            "entries": [{"label": e.label, "preset": e.preset, "overrides": list(e.overrides),
                         "bits": list(e.bits), "roundings": [r or "preset" for r in e.roundings],
                         "seeds": e.seeds, "title": e.title, "note": e.note,
                         "method": next((s.cfg.train.method for s in specs
                                         if s.label == e.label), "")} for e in entries],
            "missing": list(missing), "tolerance": {"accuracy_pt": ACCURACY_TOL,
                                                    "rel_l2_factor": L2_FACTOR}}
    write_results(rows, out, meta)
    plots = write_plots(rows, out, curve_bits)
    write_report(rows, out, meta, plots)
    if log:
        log(f"fotrain: {len(executed)} runs done now, {len(specs) - len(executed)} reused; "
            f"wrote {out}/results.csv, results.json, report.md and {len(plots)} plots")
    return {"rows": rows, "min_bits": min_word_lengths(rows), "files": plots,
            "executed": executed, "specs": specs}
