"""Results of a ``fotrain compare`` sweep: rows read back from run directories, CSV/JSON, headline.

:func:`collect_rows` makes one row per planned run (label, preset, method, numerics, bits,
rounding, seed, headline metric from ``summary.json``, diagnostics, forward passes, wall time,
curves). Diagnostics: ``saturation`` = overflow/saturation events of the run (``summary.json``
``overflow_events``, else the last logged ``sat_total``/``overflow_events``), ``underflow`` = mean
share of parameter updates that rounded to zero (``zero_update_frac`` of the train lines),
``zero_loss_diff`` = mean share of ZO queries whose integer loss difference was zero,
``perturb_lsb`` = ZO perturbation in weight LSBs.

The headline (:func:`min_word_lengths`): per entry and rounding, the smallest word length within
tolerance of float, :data:`ACCURACY_TOL` points of test accuracy (classification) or
:data:`L2_FACTOR` times the relative L2 error (PINN), for the mean over seeds, such that every
larger word length tested is within tolerance too.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .planning import RunSpec

__all__ = [
    "ACCURACY_TOL",
    "CSV_FIELDS",
    "L2_FACTOR",
    "atomic_write",
    "collect_rows",
    "higher_better",
    "mean",
    "min_word_lengths",
    "write_results",
]

ACCURACY_TOL = 0.5  # points of test accuracy
L2_FACTOR = 2.0  # relative L2 within this factor of float
CSV_FIELDS = (
    "label",
    "preset",
    "method",
    "task",
    "numerics",
    "bits",
    "rounding",
    "seed",
    "metric_name",
    "metric",
    "best_metric",
    "status",
    "saturation",
    "underflow",
    "zero_loss_diff",
    "perturb_lsb",
    "weight_format",
    "act_format",
    "acc_format",
    "forward_passes",
    "steps",
    "wall_s",
    "run_dir",
    "message",
)
_BOOKKEEPING = {"kind", "epoch", "step", "lr", "forward_passes", "wall_s"}


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


def _headline(summary: dict[str, Any], evals: list[dict[str, Any]]) -> str | None:
    for key in ("test_accuracy", "rel_l2"):
        if key in summary:
            return key
    for rec in reversed(evals):
        for k, v in rec.items():
            if k not in _BOOKKEEPING and isinstance(v, int | float):
                return k
    return None


def mean(values: Iterable[Any]) -> float | None:
    """Mean of the finite numbers among ``values``; ``None`` when there are none."""
    vals = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    return statistics.fmean(vals) if vals else None


def higher_better(metric_name: str | None) -> bool:
    """Whether larger values of ``metric_name`` are better (accuracies; unknown counts too)."""
    return metric_name is None or "acc" in metric_name


def _status(
    summary: dict[str, Any], failed: dict[str, Any], outcome: dict[str, Any]
) -> tuple[str, str]:
    if summary:
        return "ok", ""
    if failed:
        return failed.get("status", "error"), failed.get("message", "")
    if outcome:
        return outcome.get("status", "crashed"), outcome.get("message", "")
    return "missing", "not run"


def _saturation(summary: dict[str, Any], train: list[dict[str, Any]]) -> Any:
    sat = summary.get("overflow_events")
    if sat is None:
        for r in reversed(train):
            if "sat_total" in r or "overflow_events" in r:
                return r.get("sat_total", r.get("overflow_events"))
    return sat


def _row(s: RunSpec, runs_root: Path | None, outcome: dict[str, Any]) -> dict[str, Any]:
    """The row of one run, read back from its directory."""
    d = s.run_dir
    lines = _read_jsonl(d / "metrics.jsonl")
    train = [r for r in lines if r.get("kind") == "train"]
    evals = [r for r in lines if r.get("kind") == "eval"]
    summary = json.loads((d / "summary.json").read_text()) if (d / "summary.json").is_file() else {}
    failed = json.loads((d / "failed.json").read_text()) if (d / "failed.json").is_file() else {}
    status, message = _status(summary, failed, outcome)
    key = _headline(summary, evals)
    sat = _saturation(summary, train)
    f = s.cfg.formats
    fixed = s.numerics == "fixed"
    return {
        "label": s.label,
        "preset": s.preset,
        "method": s.cfg.train.method,
        "task": s.cfg.train.task,
        "numerics": s.numerics,
        "bits": s.bits,
        "rounding": s.rounding or "",
        "seed": s.seed,
        "metric_name": key,
        "metric": summary.get(key) if key else None,
        "best_metric": summary.get(f"best_{key}") if key else None,
        "status": status,
        "saturation": int(sat) if isinstance(sat, int | float) else None,
        "underflow": mean(r.get("zero_update_frac") for r in train),
        "zero_loss_diff": mean(r.get("zero_loss_diff_frac") for r in train),
        "perturb_lsb": mean(r.get("perturb_lsb") for r in train),
        "weight_format": str(f.weight) if fixed else "",
        "act_format": str(f.act) if fixed else "",
        "acc_format": str(f.acc) if fixed else "",
        "forward_passes": summary.get("train_forward_passes"),
        "steps": summary.get("steps"),
        "wall_s": summary.get("wall_s"),
        "run_dir": str(d.relative_to(runs_root))
        if runs_root and d.is_relative_to(runs_root)
        else str(d),
        "message": message,
        "saturation_by_site": summary.get("overflow_by_site"),
        "curve": [
            {
                "step": r.get("step"),
                "epoch": r.get("epoch"),
                "forward_passes": r.get("forward_passes"),
                "value": r.get(key),
            }
            for r in evals
            if key in r
        ],
        "loss_curve": [{"step": r.get("step"), "loss": r.get("loss")} for r in train],
    }


def collect_rows(
    specs: Sequence[RunSpec],
    runs_root: Path | None = None,
    outcomes: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One row per planned run, read back from its directory (``summary.json``, ``metrics``).

    Parameters
    ----------
    specs : sequence of RunSpec
        The planned runs.
    runs_root : Path or None
        ``run_dir`` in the rows is relative to it where possible.
    outcomes : dict or None
        ``{run_dir: outcome}`` of runs executed now (the status of a crashed run).

    Returns
    -------
    list of dict
        The rows, in the order of ``specs`` (module docstring for the diagnostics).
    """
    return [_row(s, runs_root, (outcomes or {}).get(str(s.run_dir), {})) for s in specs]


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so readers never see half of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_results(rows: Sequence[dict[str, Any]], out: Path, meta: dict[str, Any]) -> None:
    """``OUT/results.csv`` (the scalar columns) and ``OUT/results.json`` (``meta`` + rows).

    Parameters
    ----------
    rows : sequence of dict
        From :func:`collect_rows`.
    out : Path
        Output directory (exists).
    meta : dict
        The study's description, written ahead of the rows in the JSON.
    """
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r[k]) for k in CSV_FIELDS})
    atomic_write(out / "results.csv", buf.getvalue())
    atomic_write(out / "results.json", json.dumps({**meta, "rows": list(rows)}, indent=1) + "\n")


def _within(value: float, ref: float, metric_name: str | None) -> bool:
    if higher_better(metric_name):
        return value >= ref - ACCURACY_TOL
    return value <= ref * L2_FACTOR


def _smallest_within(
    per_bits: dict[int, float | None], ref: float | None, name: str | None
) -> int | None:
    """Smallest word length from which on every larger one is within tolerance of ``ref``."""
    best = None
    if ref is not None:
        for b in sorted(per_bits, reverse=True):
            v = per_bits[b]
            if v is None or not _within(v, ref, name):
                break
            best = b
    return best


def min_word_lengths(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The headline: the smallest word length within tolerance, per label and rounding.

    A word length qualifies when its seed mean is within tolerance and every larger tested word
    length is within tolerance too (a word length with a failed seed counts as outside).

    Parameters
    ----------
    rows : sequence of dict
        From :func:`collect_rows`.

    Returns
    -------
    list of dict
        Per (label, rounding): ``label``, ``preset``, ``method``, ``rounding``,
        ``metric_name``, ``float`` (mean over seeds), ``min_bits`` (``None``: none qualifies),
        ``per_bits`` (seed mean per word length) and ``tolerance`` (text).
    """
    out = []
    labels = list(dict.fromkeys(r["label"] for r in rows))
    for label in labels:
        mine = [r for r in rows if r["label"] == label]
        floats = [r["metric"] for r in mine if r["numerics"] == "float" and r["status"] == "ok"]
        ref = mean(floats)
        name = next((r["metric_name"] for r in mine if r["metric_name"]), None)
        for rnd in dict.fromkeys(r["rounding"] for r in mine if r["numerics"] == "fixed"):
            per_bits: dict[int, float | None] = {}
            for b in sorted({r["bits"] for r in mine if r["rounding"] == rnd and r["bits"]}):
                runs = [r for r in mine if r["bits"] == b and r["rounding"] == rnd]
                ok = all(r["status"] == "ok" and r["metric"] is not None for r in runs)
                per_bits[b] = mean(r["metric"] for r in runs) if ok else None
            out.append(
                {
                    "label": label,
                    "preset": mine[0]["preset"],
                    "method": mine[0]["method"],
                    "rounding": rnd,
                    "metric_name": name,
                    "float": ref,
                    "min_bits": _smallest_within(per_bits, ref, name),
                    "per_bits": per_bits,
                    "tolerance": (
                        f"{ACCURACY_TOL} pt" if higher_better(name) else f"{L2_FACTOR:g}x"
                    ),
                }
            )
    return out
