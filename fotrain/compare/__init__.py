"""``fotrain compare``: fixed-point vs float training, swept over word length, rounding and seed.

Contract
--------
For every study entry (a preset, optionally with budget overrides) the sweep trains one float run
per seed and one fixed-point run per (word length, rounding, seed), each in its own directory
``RUNS/<label>/float-s<seed>/`` or ``RUNS/<label>/fixed-b<bits>-<rounding>-s<seed>/`` (``RUNS``
defaults to ``OUT/runs``), through :func:`fotrain.sw.train.session.run_training`, in worker
processes; started again, a sweep skips finished runs and resumes unfinished ones bit-identically.

Outputs in ``OUT``: ``results.csv`` and ``results.json`` (one row per run), ``metric_vs_bits.png``,
``learning_curves.png``, ``saturation_underflow.png`` and ``report.md``, which embeds the plots
and states per entry and rounding the smallest word length within tolerance of float: 0.5
points of test accuracy (classification) or 2x the relative L2 error (PINN), for the mean over
seeds, such that every larger word length tested is within tolerance too.

Modules, by topic: :mod:`.scaling` (the word-length scaling rule, parsers of bits and
roundings), :mod:`.planning` (entries, the default study, the list of runs), :mod:`.runner`
(worker processes, skip and resume), :mod:`.results` (rows, CSV/JSON, the headline),
:mod:`.plots` (one function per PNG), :mod:`.report` (``report.md``) and :mod:`.sweep` (the
whole command). This package re-exports their public names.

User mistakes raise :class:`~fotrain.sw.errors.FotrainError` (one line, exit 2): bits outside
2..32, an unknown preset or rounding, an unwritable output directory, a preset whose method has
no fixed-point numerics.
"""

from .planning import (
    DEFAULT_OUT,
    DEFAULT_STUDY,
    Entry,
    RunSpec,
    StudyItem,
    plan_runs,
    resolve_default_study,
)
from .plots import write_plots
from .report import write_report
from .results import ACCURACY_TOL, L2_FACTOR, collect_rows, min_word_lengths, write_results
from .runner import run_sweep
from .scaling import parse_bits, parse_roundings, scale_config
from .sweep import compare

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
