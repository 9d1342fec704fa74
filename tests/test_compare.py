"""`fotrain compare`: a tiny real sweep (outputs, skip + resume + interruption), the word-length
scaling rule, the curated default study's plan, and one-line errors for bad input."""

import csv
import json

import pytest

from fotrain.compare import (
    ACCURACY_TOL,
    DEFAULT_STUDY,
    L2_FACTOR,
    Entry,
    compare,
    min_word_lengths,
    parse_bits,
    resolve_default_study,
    scale_config,
)
from fotrain.sw.config import load_config
from fotrain.sw.errors import FotrainError

PRESET = "mnist-tt-zo-fixed16"
TINY = [
    "train.train_limit=256",
    "train.test_limit=100",
    "train.max_steps=2",
    "train.log_every=1",
    "train.batch_size=64",
    "zo.queries=2",
]


def _entry(bits):
    return [Entry(PRESET, PRESET, (), tuple(bits), (None,), 1)]


def _csv(out):
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def _summaries(runs):
    return {
        p.parent.name: (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(runs.glob(f"{PRESET}/*/summary.json"))
    }


def test_tiny_sweep_outputs_then_resume(tmp_path, dataset_root):
    data = str(dataset_root)
    out = tmp_path / "cmp"
    res = compare(_entry([8, 16]), out, sets=TINY, jobs=2, data_dir=data, progress=False)
    assert len(res["executed"]) == 3
    # results.csv: one row per run, headline metric and diagnostics filled in
    rows = _csv(out)
    assert [(r["numerics"], r["bits"]) for r in rows] == [
        ("float", ""),
        ("fixed", "8"),
        ("fixed", "16"),
    ]
    for r in rows:
        assert r["status"] == "ok" and r["metric_name"] == "test_accuracy", r
        assert 0 <= float(r["metric"]) <= 100 and int(r["forward_passes"]) > 0
        assert int(r["steps"]) == 2 and float(r["wall_s"]) > 0 and r["method"] == "zo"
    fixed = {r["bits"]: r for r in rows if r["numerics"] == "fixed"}
    assert fixed["8"]["weight_format"] == "fixed<8,2,RND,SAT>"  # 2 integer bits kept
    assert fixed["16"]["act_format"] == "fixed<16,4,RND,SAT>"
    assert float(fixed["8"]["perturb_lsb"]) == 1 and float(fixed["16"]["perturb_lsb"]) == 128
    assert int(fixed["8"]["saturation"]) >= 0 and 0 <= float(fixed["8"]["underflow"]) <= 1
    assert rows[0]["underflow"] == ""  # float runs have no quantisation diagnostics
    js = json.loads((out / "results.json").read_text())
    assert len(js["rows"]) == 3 and js["rows"][1]["curve"][-1]["step"] == 2
    for png in ("metric_vs_bits.png", "learning_curves.png", "saturation_underflow.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    for png in ("metric_vs_bits.png", "learning_curves.png", "saturation_underflow.png"):
        assert f"]({png})" in report
    assert "## Smallest word length within tolerance of float" in report
    assert f"| {PRESET} | zo | RND | test_accuracy |" in report
    assert not list(out.glob("runs/*/*/checkpoint.npz"))  # pruned once finished

    # interrupted sweep: b12 stopped after 1 of 2 steps (checkpoint, no summary), b20 not run
    from fotrain.sw.train.session import run_training

    before = _summaries(out / "runs")
    assert len(before) == 3
    b12 = next(
        s
        for s in compare(_entry([8, 12, 16, 20]), out, sets=TINY, dry_run=True)["specs"]
        if s.bits == 12
    )
    run_training(
        b12.cfg.with_overrides(["train.max_steps=1"]), b12.run_dir, data_dir=data, progress=False
    )
    (b12.run_dir / "summary.json").unlink()
    assert (b12.run_dir / "checkpoint.npz").is_file()

    class Stop(Exception):
        pass

    def stop(spec, outcome):
        raise Stop(spec.name)

    with pytest.raises(Stop, match="fixed-b12"):  # the resumed run comes first, then we stop
        compare(
            _entry([8, 12, 16, 20]),
            out,
            sets=TINY,
            jobs=1,
            data_dir=data,
            progress=False,
            on_result=stop,
        )
    assert (b12.run_dir / "summary.json").is_file()
    assert not (out / "runs" / PRESET / "fixed-b20-RND-s0").exists()
    s12 = json.loads((b12.run_dir / "summary.json").read_text())
    assert s12["steps"] == 2
    lines = (b12.run_dir / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(x)["step"] for x in lines]
    assert steps[:2] == [1, 1] and steps[-1] == 2  # train+eval of the first part, then step 2

    res = compare(_entry([8, 12, 16, 20]), out, sets=TINY, jobs=2, data_dir=data, progress=False)
    assert [p.rsplit("/", 1)[-1] for p in res["executed"]] == ["fixed-b20-RND-s0"]
    after = _summaries(out / "runs")
    assert {k: after[k] for k in before} == before  # finished runs untouched
    rows = _csv(out)
    assert [r["bits"] for r in rows] == ["", "8", "12", "16", "20"]
    assert all(r["status"] == "ok" for r in rows)

    # a run directory holding another config is refused, not silently reused
    with pytest.raises(FotrainError, match="holds a run of another config"):
        compare(_entry([8]), out, sets=[*TINY, "zo.queries=3"], data_dir=data, progress=False)


@pytest.mark.parametrize("preset", ["mnist-tt-zo-fixed16", "mnist-mlp-tpsgd-fixed16"])
@pytest.mark.parametrize("bits", [4, 8, 16, 24])
def test_scaling_rule(preset, bits):
    base = load_config(preset)
    cfg = scale_config(base, bits, "TRN")
    f0, f = base.formats, cfg.formats
    assert cfg.train.numerics == "fixed"
    for name in ("weight", "act"):
        q0, q = getattr(f0, name), getattr(f, name)
        assert q.width == bits and q.frac == max(bits - q0.integer, 0)
        if bits >= q0.integer:
            assert q.integer == q0.integer
    assert f.acc.frac == f.act.frac + f.weight.frac
    need = max(
        f.acc_bits_needed(t, bias=layer.bias and k == len(layer.contraction_lengths) - 1)
        for layer in cfg.layers
        for k, t in enumerate(layer.contraction_lengths)
    )
    assert f.acc.width == need  # the narrowest accumulator validation accepts
    assert {q.rounding.name for q in (f.weight, f.act, f.acc)} == {"TRN"}
    assert f.acc.overflow == f0.acc.overflow
    if bits == 16:  # the preset's own word length: same weight/act formats as the preset
        assert f.weight == f0.weight.with_(rounding="TRN") and f.act == f0.act.with_(rounding="TRN")
    if base.train.method == "zo":  # perturbation keeps its real size, at least 1 LSB
        assert cfg.zo.fixed_mu_lsb == {4: 1, 8: 1, 16: 128, 24: 32768}[bits]
    else:  # gradient accumulator keeps its 10 integer bits (clamped to 16..48)
        assert cfg.local.fixed_grad_width == min(max(10 + 2 * f.act.frac, 16), 48)


def test_scaling_overrides_and_limits():
    base = load_config(PRESET)
    cfg = scale_config(base, 12, None, ["formats.weight.frac=8", "train.lr=0.01"])
    assert cfg.formats.weight.frac == 8 and cfg.formats.acc.frac == 8 + cfg.formats.act.frac
    assert cfg.train.lr == 0.01 and cfg.formats.weight.rounding.name == "RND"
    cfg = scale_config(base, 12, None, ["formats.acc.width=50"])
    assert cfg.formats.acc.width == 50
    with pytest.raises(FotrainError, match="62 bits"):
        scale_config(base, 32)
    with pytest.raises(FotrainError, match="outside 2..32"):
        parse_bits("8,33")


def test_default_study_plan(tmp_path, monkeypatch):
    entries, missing = resolve_default_study()
    labels = [e.label for e in entries] + [m["label"] for m in missing]
    assert sorted(labels) == sorted(item.label for item in DEFAULT_STUDY)
    assert any(e.label == "zo-tt" and e.preset == PRESET for e in entries)
    for m in missing:
        assert m["reason"]
    monkeypatch.chdir(tmp_path)
    from fotrain.cli import main

    assert main(["compare", "--default", "--dry-run", "--no-progress"]) == 0
    assert not (tmp_path / "docs").exists()  # a dry run writes nothing


@pytest.mark.parametrize(
    "args, message",
    [
        ([PRESET, "--bits", "8,40"], "fotrain: error: --bits: 40 is outside 2..32"),
        ([PRESET, "--bits", "1"], "fotrain: error: --bits: 1 is outside 2..32"),
        ([PRESET, "--bits", "8,x"], "fotrain: error: --bits: expected comma-separated integers"),
        (
            ["no-such-preset", "--bits", "8"],
            "fotrain: error: preset: unknown name 'no-such-preset'",
        ),
        (
            ["mnist-tt-bp", "--bits", "8"],
            "fotrain: error: compare: mnist-tt-bp: method 'bp' has no fixed-point numerics",
        ),
        ([PRESET, "--rounding", "UP"], "fotrain: error: --rounding: rounding: unknown mode 'UP'"),
        ([PRESET, "--default"], "fotrain: error: compare: give presets or --default, not both"),
    ],
)
def test_bad_input_is_one_line(args, message, tmp_path, run_cli):
    r = run_cli("compare", *args, "--out", str(tmp_path / "o"), "--no-progress")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert r.stderr.startswith(message), r.stderr
    assert not (tmp_path / "o").exists()


def test_unwritable_out_is_one_line(tmp_path, run_cli):
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = run_cli("compare", PRESET, "--bits", "8", "--out", str(blocker / "out"), "--no-progress")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert r.stderr.startswith("fotrain: error: --out: cannot write to"), r.stderr


# -- the headline: smallest word length within tolerance, on synthetic rows --------------------


def _row(bits, metric, *, seed=0, rounding="RND", status="ok", label="m", name="test_accuracy"):
    """One result row as collect_rows makes it (only the fields the headline reads)."""
    return {
        "label": label,
        "preset": "p",
        "method": "zo",
        "numerics": "float" if bits is None else "fixed",
        "bits": bits,
        "rounding": "" if bits is None else rounding,
        "seed": seed,
        "metric_name": name,
        "metric": metric,
        "status": status,
    }


def _floats(*values, **kw):
    return [_row(None, v, seed=s, **kw) for s, v in enumerate(values)]


def _fixed(bits, *values, **kw):
    return [_row(bits, v, seed=s, **kw) for s, v in enumerate(values)]


def test_headline_clear_answer():
    rows = _floats(90.25, 89.75) + _fixed(8, 70.0, 72.0) + _fixed(12, 89.5, 90.0)
    rows += _fixed(16, 90.0, 90.5)
    (h,) = min_word_lengths(rows)
    assert h["float"] == 90.0 and h["min_bits"] == 12
    assert h["per_bits"] == {8: 71.0, 12: 89.75, 16: 90.25}
    assert (h["label"], h["preset"], h["method"], h["rounding"]) == ("m", "p", "zo", "RND")
    assert h["metric_name"] == "test_accuracy" and h["tolerance"] == f"{ACCURACY_TOL} pt"


def test_headline_failed_seed_counts_as_outside():
    """Seed 1 at 12 bits failed: its mean is not taken over the seed that ran."""
    rows = _floats(90.0, 90.0) + _fixed(12, 90.0, None, status="ok") + _fixed(16, 90.0, 90.0)
    rows[3]["status"] = "error"  # 12 bits, seed 1
    (h,) = min_word_lengths(rows)
    assert h["per_bits"] == {12: None, 16: 90.0} and h["min_bits"] == 16
    rows[3].update(status="ok", metric=None)  # finished without a metric: outside too
    assert min_word_lengths(rows)[0]["min_bits"] == 16


def test_headline_tolerance_boundary_is_inside():
    """Exactly ACCURACY_TOL points below float qualifies; any further below does not."""
    edge = 90.0 - ACCURACY_TOL
    (h,) = min_word_lengths(_floats(90.0) + _fixed(8, edge) + _fixed(16, 90.0))
    assert h["min_bits"] == 8
    (h,) = min_word_lengths(_floats(90.0) + _fixed(8, edge - 0.125) + _fixed(16, 90.0))
    assert h["min_bits"] == 16


def test_headline_needs_every_longer_word_length_within():
    """8 bits is within tolerance but 12 is not: the answer is 16, not 8."""
    rows = _floats(90.0) + _fixed(8, 90.0) + _fixed(12, 80.0) + _fixed(16, 90.0)
    assert min_word_lengths(rows)[0]["min_bits"] == 16
    rows = _floats(90.0) + _fixed(8, 90.0) + _fixed(12, 90.0) + _fixed(16, 80.0)
    assert min_word_lengths(rows)[0]["min_bits"] is None  # the longest is out: none qualifies


def test_headline_pinn_rel_l2_factor():
    """Lower is better for rel_l2: within L2_FACTOR times float, the boundary inside."""
    kw = {"name": "rel_l2"}
    ref = 0.125
    rows = _floats(ref, ref, **kw) + _fixed(8, 0.5, 0.25, **kw)
    rows += _fixed(12, L2_FACTOR * ref, L2_FACTOR * ref, **kw) + _fixed(16, 0.125, 0.25, **kw)
    (h,) = min_word_lengths(rows)
    assert h["float"] == ref and h["per_bits"] == {8: 0.375, 12: 0.25, 16: 0.1875}
    assert h["min_bits"] == 12 and h["tolerance"] == f"{L2_FACTOR:g}x"
    rows = _floats(ref, **kw) + _fixed(12, L2_FACTOR * ref + 1e-9, **kw)
    assert min_word_lengths(rows)[0]["min_bits"] is None


def test_headline_per_label_and_rounding():
    rows = _floats(90.0) + _fixed(8, 90.0) + _fixed(16, 90.0)
    rows += _fixed(8, 60.0, rounding="TRN") + _fixed(16, 90.0, rounding="TRN")
    rows += _floats(0.125, label="pinn", name="rel_l2") + _fixed(
        8, 1.0, label="pinn", name="rel_l2"
    )
    got = {(h["label"], h["rounding"]): h["min_bits"] for h in min_word_lengths(rows)}
    assert got == {("m", "RND"): 8, ("m", "TRN"): 16, ("pinn", "RND"): None}


def test_headline_without_a_float_reference():
    """No finished float run: nothing can be within tolerance of it."""
    rows = _floats(90.0, status="error") + _fixed(8, 90.0) + _fixed(16, 90.0)
    (h,) = min_word_lengths(rows)
    assert h["float"] is None and h["min_bits"] is None
