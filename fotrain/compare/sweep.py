"""The whole ``fotrain compare`` sweep: plan, run (resuming), collect, write results and report.

See :mod:`fotrain.compare` for the contract; this module only chains the steps and checks that
the output directories are writable before any run starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .planning import Entry, RunSpec, plan_runs
from .plots import write_plots
from .report import write_report
from .results import ACCURACY_TOL, L2_FACTOR, collect_rows, min_word_lengths, write_results
from .runner import classify, run_sweep
from .scaling import user_error

__all__ = ["compare"]


def _writable_dir(path: Path, flag: str) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".fotrain-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise user_error(f"{flag}: cannot write to {str(path)!r} ({e.strerror or e})") from None
    return path


def _meta(
    entries: Sequence[Entry],
    specs: Sequence[RunSpec],
    sets: Sequence[str],
    missing: Sequence[dict[str, str]],
    command: str,
    wall: float,
) -> dict[str, Any]:
    """The study's description written with the results and used by the report."""
    return {
        "command": command,
        "wall_s": wall,
        "sets": list(sets),
        "entries": [
            {
                "label": e.label,
                "preset": e.preset,
                "overrides": list(e.overrides),
                "bits": list(e.bits),
                "roundings": [r or "preset" for r in e.roundings],
                "seeds": e.seeds,
                "title": e.title,
                "note": e.note,
                "method": next((s.cfg.train.method for s in specs if s.label == e.label), ""),
            }
            for e in entries
        ],
        "missing": list(missing),
        "tolerance": {"accuracy_pt": ACCURACY_TOL, "rel_l2_factor": L2_FACTOR},
    }


def compare(
    entries: Sequence[Entry],
    out: str | Path,
    *,
    runs_dir: str | Path | None = None,
    sets: Sequence[str] = (),
    jobs: int = 2,
    data_dir: str | None = None,
    progress: bool = True,
    keep_checkpoints: bool = False,
    missing: Sequence[dict[str, str]] = (),
    command: str = "fotrain compare",
    curve_bits: Sequence[int] | None = None,
    dry_run: bool = False,
    on_result: Callable[[RunSpec, dict[str, Any]], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Plan, run (resuming), collect, and write results, plots and the report into ``out``.

    Parameters
    ----------
    entries : sequence of Entry
        The study.
    out : str or Path
        Output directory of results, plots and report.
    runs_dir : str, Path or None
        Root of the run directories (default ``OUT/runs``).
    sets : sequence of str
        ``key=value`` overrides for every run, after scaling.
    jobs : int
        Worker processes.
    data_dir : str or None
        Dataset directory.
    progress : bool
        Show a progress bar.
    keep_checkpoints : bool
        Keep finished runs' ``checkpoint.npz``.
    missing : sequence of dict
        Study slots not covered (listed in the report).
    command : str
        The command line that regenerates the results (quoted in the report).
    curve_bits : sequence of int or None
        Word lengths of the learning-curve plot.
    dry_run : bool
        Only plan (and validate); nothing is written or run.
    on_result : callable or None
        Called after each run (:func:`fotrain.compare.runner.run_sweep`).
    log : callable or None
        Receives the closing one-line summary.

    Returns
    -------
    dict
        ``{"rows", "min_bits", "files", "executed", "specs"}``.
    """
    out = Path(out)
    runs = Path(runs_dir) if runs_dir is not None else out / "runs"
    if not entries:
        raise user_error("compare: nothing to run (no preset with fixed-point numerics)")
    specs = plan_runs(entries, runs, sets)
    if dry_run:
        for s in specs:
            classify(s)
        return {"rows": [], "min_bits": [], "files": [], "executed": {}, "specs": specs}
    _writable_dir(out, "--out")
    _writable_dir(runs, "--runs")
    t0 = time.perf_counter()
    executed = run_sweep(
        specs,
        jobs=jobs,
        data_dir=data_dir,
        progress=progress,
        keep_checkpoints=keep_checkpoints,
        on_result=on_result,
    )
    wall = time.perf_counter() - t0
    rows = collect_rows(specs, runs, executed)
    meta = _meta(entries, specs, sets, missing, command, wall)
    write_results(rows, out, meta)
    plots = write_plots(rows, out, curve_bits)
    write_report(rows, out, meta, plots)
    if log:
        log(
            f"fotrain: {len(executed)} runs done now, {len(specs) - len(executed)} reused; "
            f"wrote {out}/results.csv, results.json, report.md and {len(plots)} plots"
        )
    return {
        "rows": rows,
        "min_bits": min_word_lengths(rows),
        "files": plots,
        "executed": executed,
        "specs": specs,
    }
