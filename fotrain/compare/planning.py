"""Planning of a ``fotrain compare`` sweep: study entries, the curated default study, the runs.

An :class:`Entry` is one preset of a study with budget overrides, word lengths, roundings and a
seed count; :func:`plan_runs` expands entries into one :class:`RunSpec` per float seed and per
(word length, rounding, seed), each with its validated config and its run directory
``RUNS/<label>/float-s<seed>/`` or ``RUNS/<label>/fixed-b<bits>-<rounding>-s<seed>/``.
:data:`DEFAULT_STUDY` is the curated study of ``fotrain compare --default``;
:func:`resolve_default_study` picks, per slot, the first candidate preset that exists here and
has fixed-point numerics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .scaling import scale_config, split_sets, user_error

__all__ = [
    "DEFAULT_OUT",
    "DEFAULT_STUDY",
    "Entry",
    "RunSpec",
    "StudyItem",
    "check_fixed",
    "plan_runs",
    "resolve_default_study",
]

DEFAULT_OUT = "docs/compare"


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
_HYBRID_BUDGET = (
    "train.train_limit=6400",
    "train.test_limit=2000",
    "train.epochs=2",
    "zo.switch_epoch=1",
)
_LOCAL_BUDGET = ("train.train_limit=20000", "train.test_limit=5000", "train.epochs=1")
_LOCAL_BITS = (4, 6, 8, 10, 12, 14, 16)  # local_fixed's bias alignment needs <= 62-bit ints
# The float MNIST MLP presets shift their training images (train.augment_shift = 1); the study
# compares them with the fixed16 presets, which do not, so it pins the shift to 0.

#: The curated default study (``fotrain compare --default``); see ``docs/COMPARE.md``.
#: Budgets: ZO 100 steps (12,800 images, 1 epoch, its cosine schedule complete), hybrid 50 RGE
#: + 50 coordinate-descent steps, local rules 200 steps (20,000 images, 1 epoch); 2 seeds each.
DEFAULT_STUDY: tuple[StudyItem, ...] = (
    StudyItem(
        "zo-tt",
        "ZO-TT MNIST (integer ZO step)",
        (("mnist-tt-zo-fixed16", ()),),
        _ZO_BUDGET,
        (6, 8, 10, 12, 16),
        ("RND",),
        2,
    ),
    StudyItem(
        "hybrid-tt",
        "hybrid ZO-TT MNIST",
        (("mnist-tt-hybrid-fixed16", ()),),
        _HYBRID_BUDGET,
        (6, 8, 10, 12, 16),
        ("RND",),
        2,
    ),
    StudyItem(
        "tpsgd-mlp",
        "tpSGD MLP MNIST",
        (("mnist-mlp-tpsgd-fixed16", ()), ("mnist-mlp-tpsgd", ("train.augment_shift=0",))),
        _LOCAL_BUDGET,
        _LOCAL_BITS,
        ("TRN", "RND"),
        2,
    ),
    StudyItem(
        "drtp-mlp",
        "DRTP MLP MNIST",
        (
            ("mnist-mlp-drtp-fixed16", ()),
            ("mnist-mlp-drtp", ("train.augment_shift=0",)),
            ("mnist-mlp-tpsgd-fixed16", ("train.method=drtp",)),
        ),
        _LOCAL_BUDGET,
        _LOCAL_BITS,
        ("RND",),
        2,
    ),
    # The integer PINN step evaluates 14,448 fixed-point networks, by far the costliest step of
    # the study, and sweep runs use one process each, so the HJB slot gets one epoch (100 steps,
    # its cosine schedule complete), 3 word lengths and 1 seed.
    StudyItem(
        "hjb20",
        "HJB-20d TT-PINN",
        (("hjb20-tt-zo-fixed16", ()), ("hjb20-tt-zo", ())),
        ("train.epochs=1",),
        (12, 16, 20),
        ("RND",),
        1,
    ),
)


def check_fixed(cfg, label: str) -> None:
    """Raise a one-line error unless ``cfg``'s method has fixed-point numerics.

    Parameters
    ----------
    cfg : fotrain.sw.config.Config
        A config with ``train.numerics = "fixed"``.
    label : str
        Named in the message (the preset).
    """
    from ..sw.errors import FotrainError
    from ..sw.train.registry import make_method

    try:
        make_method(cfg, seed=0)
    except FotrainError as e:
        raise user_error(
            f"compare: {label}: method {cfg.train.method!r} has no fixed-point "
            f"numerics for this config ({e})"
        ) from None


def _base_config(preset: str, overrides: Sequence[str]):
    from ..sw.config import load_config

    cfg = load_config(preset)
    return cfg.with_overrides(list(overrides)) if overrides else cfg


def resolve_default_study(
    study: Sequence[StudyItem] = DEFAULT_STUDY,
) -> tuple[list[Entry], list[dict[str, str]]]:
    """The study's entries that can run here, and the missing slots with the reason.

    Parameters
    ----------
    study : sequence of StudyItem
        The slots, by default :data:`DEFAULT_STUDY`.

    Returns
    -------
    entries : list of Entry
        One per slot that has a usable candidate (a derived one carries a ``note``).
    missing : list of dict
        ``{"label", "title", "reason"}`` per slot without one.
    """
    from ..sw.config import preset_names
    from ..sw.errors import FotrainError

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
                check_fixed(base.with_overrides(["train.numerics=fixed"]), preset)
            except FotrainError as e:
                reasons.append(str(e).removeprefix("compare: "))
                continue
            note = (
                f"derived: preset {preset} with {', '.join(extra)} (no fixed-point preset "
                f"of this method; the earlier candidates: {'; '.join(reasons)})"
                if extra
                else ""
            )
            entries.append(
                Entry(
                    item.label,
                    preset,
                    overrides,
                    item.bits,
                    item.roundings,
                    item.seeds,
                    item.title,
                    note,
                )
            )
            break
        else:
            missing.append({"label": item.label, "title": item.title, "reason": "; ".join(reasons)})
    return entries, missing


def plan_runs(entries: Sequence[Entry], runs_dir: Path, sets: Sequence[str] = ()) -> list[RunSpec]:
    """Every run of the sweep with its validated config.

    Parameters
    ----------
    entries : sequence of Entry
        The study; a repeated label is planned once.
    runs_dir : Path
        Root of the run directories.
    sets : sequence of str
        ``key=value`` overrides for every run (after scaling for the fixed-point ones).

    Returns
    -------
    list of RunSpec
        Per entry: the float runs, then the fixed-point runs by word length and rounding.
        Errors are one-line :class:`~fotrain.sw.errors.FotrainError`.
    """
    fmt_sets, other = split_sets(sets)
    specs: list[RunSpec] = []
    seen: set[str] = set()
    for e in entries:
        if e.label in seen:
            continue
        seen.add(e.label)
        base = _base_config(e.preset, e.overrides)
        fixed0 = base.with_overrides(["train.numerics=fixed"])
        check_fixed(fixed0, e.preset)
        flt = base.with_overrides(["train.numerics=float", *other])
        for seed in range(e.seeds):
            cfg = flt.with_overrides([f"train.seed={seed}"])
            specs.append(
                RunSpec(
                    e.label,
                    e.preset,
                    "float",
                    None,
                    None,
                    seed,
                    cfg,
                    runs_dir / e.label / f"float-s{seed}",
                )
            )
        for bits in e.bits:
            for rnd in e.roundings:
                scaled = scale_config(fixed0, bits, rnd, [*fmt_sets, *other])
                tag = rnd or _rounding_label(scaled)
                for seed in range(e.seeds):
                    cfg = scaled.with_overrides([f"train.seed={seed}"])
                    specs.append(
                        RunSpec(
                            e.label,
                            e.preset,
                            "fixed",
                            bits,
                            tag,
                            seed,
                            cfg,
                            runs_dir / e.label / f"fixed-b{bits}-{tag}-s{seed}",
                        )
                    )
    return specs


def _rounding_label(cfg) -> str:
    names = {getattr(cfg.formats, k).rounding.name for k in ("weight", "act", "acc")}
    return names.pop() if len(names) == 1 else "mixed"
