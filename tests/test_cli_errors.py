"""The CLI's one-line error contract over every subcommand, as a table shared with docs/CLI.md.

Each row of :data:`BAD_INPUTS` is ``(id, argv, expected)``: ``fotrain ARGV`` must exit with status
2 and print exactly one stderr line, ``fotrain: error: <field>: ...`` containing ``expected``,
and write nothing (the test's folder, which is also the working directory, stays as it was).
``$FOTRAIN_DATA`` points at an empty folder, so a row whose error came only after loading a
dataset fails on the message. Placeholders in ARGV: ``{file}`` an existing file, ``{empty}`` an
empty directory, ``{run}`` a directory holding files, ``{cfgonly}`` a run directory with a
``config.toml`` and no checkpoint, ``{bad}`` a config whose mode product is wrong, ``{tmp}`` the
folder itself.

docs/CLI.md renders the same table between the ``bad-inputs`` markers; ``python
tests/test_cli_errors.py`` rewrites it from this file, and :func:`test_doc_table_matches` fails
when the two differ.
"""

import sys
from pathlib import Path

import pytest

from fotrain.cli import main
from fotrain.sw.config import load_config

DOC = Path(__file__).resolve().parents[1] / "docs" / "CLI.md"
START, END = "<!-- bad-inputs:start -->", "<!-- bad-inputs:end -->"

BAD_INPUTS: list[tuple[str, list[str], str]] = [
    # the command line as a whole
    ("no-command", [], "COMMAND: required"),
    ("unknown-command", ["frobnicate"], "COMMAND: invalid choice: 'frobnicate'"),
    ("unknown-option", ["info", "--bogus"], "--bogus: unrecognized arguments"),
    # info
    ("info-unknown-preset", ["info", "no-such-preset"], "preset: unknown name 'no-such-preset'"),
    ("info-missing-toml", ["info", "missing.toml"], "config: no such file 'missing.toml'"),
    ("info-directory", ["info", "{empty}"], "is a directory, not a .toml file"),
    ("info-bad-modes", ["info", "{bad}"], "layers[0].in_modes: product of [4, 7, 7, 5] is 980"),
    ("info-batch-0", ["info", "--batch", "0"], "--batch: expected a positive integer, got 0"),
    ("info-batch-text", ["info", "--batch", "x"], "--batch: expected a positive integer, got 'x'"),
    ("info-extra-arg", ["info", "default", "extra"], "extra: unrecognized arguments"),
    # demo
    ("demo-seed-negative", ["demo", "--seed", "-1"], "--seed: expected a non-negative integer"),
    ("demo-seed-text", ["demo", "--seed", "x"], "--seed: expected a non-negative integer"),
    ("demo-batch-0", ["demo", "--batch", "0"], "--batch: expected a positive integer, got 0"),
    ("demo-unknown-preset", ["demo", "nope"], "preset: unknown name 'nope'"),
    ("demo-bad-modes", ["demo", "{bad}"], "layers[0].in_modes: product of [4, 7, 7, 5]"),
    # train: arguments
    ("train-no-config", ["train"], "PRESET_OR_CONFIG: give a preset or config file"),
    ("train-epochs-negative", ["train", "mnist-tt-zo", "--epochs", "-1"], "--epochs: expected a"),
    ("train-epochs-0", ["train", "mnist-tt-zo", "--epochs", "0"], "--epochs: expected a positive"),
    ("train-epochs-float", ["train", "mnist-tt-zo", "--epochs", "1.5"], "--epochs: expected a"),
    ("train-max-steps-0", ["train", "mnist-tt-zo", "--max-steps", "0"], "--max-steps: expected"),
    ("train-seed-negative", ["train", "mnist-tt-zo", "--seed", "-1"], "--seed: expected a non-neg"),
    (
        "train-workers-0",
        ["train", "mnist-tt-zo", "--workers", "0"],
        "--workers: expected a positive",
    ),
    ("train-unknown-preset", ["train", "nope"], "preset: unknown name 'nope'"),
    ("train-bad-modes", ["train", "{bad}"], "layers[0].in_modes: product of [4, 7, 7, 5]"),
    # train: config values
    ("train-set-unknown-key", ["train", "mnist-tt-zo", "--set", "zo.querys=3"], "--set zo.querys"),
    ("train-set-no-equals", ["train", "mnist-tt-zo", "--set", "zo.queries"], "--set"),
    ("train-set-below-min", ["train", "mnist-tt-zo", "--set", "zo.queries=0"], "zo.queries: must"),
    (
        "train-set-bad-method",
        ["train", "mnist-tt-zo", "--set", "train.method='magic'"],
        "train.method: 'magic' is not one of",
    ),
    (
        "train-set-bp-fixed",
        ["train", "mnist-tt-bp", "--set", "train.numerics='fixed'"],
        "train.numerics: 'fixed' is not available for method 'bp'",
    ),
    (
        "train-shift-pde",
        ["train", "hjb20-tt-zo", "--set", "train.augment_shift=1", "--out", "{tmp}/o"],
        "train.augment_shift: 1 applies to image tasks",
    ),
    (
        "train-shift-too-far",
        ["train", "mnist-mlp-bp", "--set", "train.augment_shift=20"],
        "train.augment_shift: 20 moves a 28 x 28 image out of its frame",
    ),
    # train: run directories
    ("train-out-is-file", ["train", "mnist-tt-zo", "--out", "{file}"], "--out: '{file}' is a file"),
    (
        "train-out-under-file",
        ["train", "mnist-tt-zo", "--out", "{file}/run"],
        "--out: cannot create '{file}/run'",
    ),
    ("train-out-holds-files", ["train", "mnist-tt-zo", "--out", "{run}"], "already holds files"),
    (
        "train-default-out-holds-files",
        ["train", "hjb20-tt-zo"],
        "--out: 'runs/hjb20-tt-zo-s0' already holds files",
    ),
    ("train-resume-missing", ["train", "--resume", "{tmp}/nope"], "--resume: no such run"),
    ("train-resume-file", ["train", "--resume", "{file}"], "--resume: '{file}' is a file"),
    ("train-resume-no-config", ["train", "--resume", "{empty}"], "holds no config.toml"),
    ("train-resume-no-checkpoint", ["train", "--resume", "{cfgonly}"], "no checkpoint to resume"),
    ("train-resume-set", ["train", "--resume", "{run}", "--set", "train.lr=1"], "--set: would"),
    ("train-resume-seed", ["train", "--resume", "{run}", "--seed", "1"], "--seed: would change"),
    (
        "train-resume-config",
        ["train", "mnist-tt-zo", "--resume", "{run}"],
        "PRESET_OR_CONFIG: would change",
    ),
    ("train-resume-out", ["train", "--resume", "{run}", "--out", "{tmp}/x"], "--out: would"),
    ("train-resume-force", ["train", "--resume", "{run}", "--force"], "--force: would change"),
    # study
    ("study-unknown", ["study", "foo"], "what: invalid choice: 'foo'"),
    ("study-missing", ["study"], "what: required"),
    ("study-seed-negative", ["study", "pinn-noise", "--seed", "-1"], "--seed: expected a non-neg"),
    ("study-bits-1", ["study", "pinn-noise", "--bits", "1"], "--bits: 1 is outside 2..32"),
    ("study-bits-text", ["study", "pinn-noise", "--bits", "x"], "--bits: expected comma-separated"),
    ("study-points-0", ["study", "pinn-noise", "--points", "0"], "--points: expected a positive"),
    (
        "study-set-unknown-key",
        ["study", "pinn-noise", "--set", "pinn.sigmaa=1", "--out", "{tmp}/s"],
        "--set pinn.sigmaa: unknown key 'sigmaa'",
    ),
    (
        "study-variance-set",
        ["study", "variance", "--set", "pinn.sigma=1", "--out", "{tmp}/s"],
        "--set belong to 'pinn-noise'",
    ),
    (
        "study-unknown-preset",
        ["study", "pinn-noise", "--preset", "nope", "--out", "{tmp}/s"],
        "preset: unknown name 'nope'",
    ),
    ("study-out-is-file", ["study", "variance", "--out", "{file}"], "--out: '{file}' is a file"),
    (
        "study-out-under-file",
        ["study", "pinn-noise", "--out", "{file}/s"],
        "--out: cannot create '{file}/s'",
    ),
    # bench
    ("bench-unknown", ["bench", "foo"], "what: invalid choice: 'foo'"),
    ("bench-missing", ["bench"], "what: required"),
    ("bench-seed-negative", ["bench", "fixed", "--seed", "-1"], "--seed: expected a non-negative"),
    ("bench-repeats-0", ["bench", "fixed", "--repeats", "0"], "--repeats: expected a positive"),
    ("bench-batch-0", ["bench", "zo", "--batch", "0"], "--batch: expected a positive integer"),
    (
        "bench-out-under-file",
        ["bench", "fixed", "--out", "{file}/x.json"],
        "--out: cannot create '{file}/x.json'",
    ),
    ("bench-out-is-dir", ["bench", "fixed", "--out", "{empty}"], "is a directory, not a file"),
    # compare
    ("compare-nothing", ["compare"], "compare: give at least one preset"),
    ("compare-seeds-0", ["compare", "mnist-tt-zo-fixed16", "--seeds", "0"], "--seeds: expected a"),
    ("compare-jobs-0", ["compare", "mnist-tt-zo-fixed16", "--jobs", "0"], "--jobs: expected a"),
    ("compare-unknown-preset", ["compare", "nope"], "preset: unknown name 'nope'"),
    ("compare-bits-1", ["compare", "mnist-tt-zo-fixed16", "--bits", "1"], "--bits: 1 is outside"),
    ("compare-bits-text", ["compare", "mnist-tt-zo-fixed16", "--bits", "x"], "--bits: expected"),
    (
        "compare-curve-bits",
        ["compare", "mnist-tt-zo-fixed16", "--curve-bits", "99"],
        "--curve-bits: 99 is outside 2..32",
    ),
    (
        "compare-rounding",
        ["compare", "mnist-tt-zo-fixed16", "--rounding", "FOO"],
        "rounding: unknown mode 'FOO'",
    ),
    (
        "compare-default-and-preset",
        ["compare", "--default", "mnist-tt-zo-fixed16"],
        "compare: give presets or --default, not both",
    ),
    (
        "compare-out-is-file",
        ["compare", "mnist-tt-zo-fixed16", "--out", "{file}"],
        "--out: cannot write to '{file}'",
    ),
    # emit and synth
    ("emit-unknown-block", ["emit", "foo", "--out", "{tmp}/e"], "block: invalid choice: 'foo'"),
    ("emit-no-out", ["emit", "tt_engine"], "--out: required"),
    ("emit-layer-9", ["emit", "tt_engine", "--layer", "9", "--out", "{tmp}/e"], "layer: 9 is not"),
    ("emit-layer-text", ["emit", "tt_engine", "--layer", "x", "--out", "{tmp}/e"], "--layer: inv"),
    (
        "emit-unknown-preset",
        ["emit", "perturb", "--config", "nope", "--out", "{tmp}/e"],
        "preset: unknown name 'nope'",
    ),
    ("emit-out-is-file", ["emit", "perturb", "--out", "{file}"], "--out: '{file}' is a file"),
    (
        "synth-unknown-target",
        ["synth", "tt_engine", "--target", "xc7", "--out", "{tmp}/s"],
        "--target: invalid choice: 'xc7'",
    ),
    ("synth-no-target", ["synth", "tt_engine", "--out", "{tmp}/s"], "--target: required"),
    (
        "synth-seed-negative",
        ["synth", "perturb", "--target", "ice40-up5k", "--seed", "-1", "--out", "{tmp}/s"],
        "--seed: expected a non-negative integer",
    ),
    # download and plot
    ("download-unknown", ["download", "foo"], "datasets: invalid choice: 'foo'"),
    (
        "download-dir-is-file",
        ["download", "mnist", "--data-dir", "{file}"],
        "--data-dir: '{file}' is a file",
    ),
    ("plot-no-runs", ["plot"], "RUN_DIR: required"),
    ("plot-not-a-run", ["plot", "{empty}"], "has no metrics.jsonl"),
    ("plot-out-is-dir", ["plot", "{run}", "--out", "{empty}"], "is a directory, not a file"),
]


def _fill(text: str, places: dict[str, str]) -> str:
    for k, v in places.items():
        text = text.replace("{" + k + "}", v)
    return text


@pytest.fixture
def places(tmp_path, monkeypatch) -> dict[str, str]:
    """The placeholder paths, made in ``tmp_path``, which becomes the working directory."""
    (tmp_path / "afile.txt").write_text("not a run\n")
    (tmp_path / "empty").mkdir()
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("")
    (run / "config.toml").write_text(load_config("hjb20-tt-zo").to_toml())
    cfgonly = tmp_path / "cfgonly"
    cfgonly.mkdir()
    (cfgonly / "config.toml").write_text(load_config("hjb20-tt-zo").to_toml())
    (tmp_path / "runs" / "hjb20-tt-zo-s0").mkdir(parents=True)
    (tmp_path / "runs" / "hjb20-tt-zo-s0" / "config.toml").write_text("")
    (tmp_path / "bad.toml").write_text(
        "[[layers]]\nin_features = 784\nout_features = 256\n"
        "in_modes = [4, 7, 7, 5]\nout_modes = [4, 4, 4, 4]\nranks = 4\n"
    )
    (tmp_path / "nodata").mkdir()
    monkeypatch.setenv("FOTRAIN_DATA", str(tmp_path / "nodata"))
    monkeypatch.chdir(tmp_path)
    return {
        "file": str(tmp_path / "afile.txt"),
        "empty": str(tmp_path / "empty"),
        "run": str(run),
        "cfgonly": str(cfgonly),
        "bad": str(tmp_path / "bad.toml"),
        "tmp": str(tmp_path),
    }


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else b"")
        for p in sorted(root.rglob("*"))
    }


def test_table_is_large_and_covers_every_command():
    ids = [row[0] for row in BAD_INPUTS]
    assert len(ids) == len(set(ids)) and len(ids) >= 60
    from fotrain.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    covered = {argv[0] for _, argv, _ in BAD_INPUTS if argv}
    assert set(sub.choices) <= covered


@pytest.mark.parametrize(
    "argv, expected", [r[1:] for r in BAD_INPUTS], ids=[r[0] for r in BAD_INPUTS]
)
def test_bad_input_is_one_line_status_2_and_writes_nothing(argv, expected, places, capsys):
    root = Path(places["tmp"])
    before = _snapshot(root)
    try:
        status = main([_fill(a, places) for a in argv])
    except SystemExit as e:  # argparse's errors exit from inside parse_args
        status = e.code
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert status == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("fotrain: error: ")
    assert _fill(expected, places) in lines[0]
    assert _snapshot(root) == before


def render_table() -> str:
    """The markdown table of :data:`BAD_INPUTS` (what docs/CLI.md holds between the markers)."""
    rows = ["| id | command | the error line contains |", "| --- | --- | --- |"]
    for ident, argv, expected in BAD_INPUTS:
        cmd = " ".join(["fotrain", *argv]).replace("|", "\\|")
        rows.append(f"| {ident} | `{cmd}` | `{expected}` |")
    return "\n".join(rows)


def _doc_section(text: str) -> str:
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def test_doc_table_matches():
    assert _doc_section(DOC.read_text(encoding="utf-8")) == render_table(), (
        "docs/CLI.md is out of date: run `python tests/test_cli_errors.py`"
    )


if __name__ == "__main__":  # rewrite the table in docs/CLI.md from BAD_INPUTS
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    DOC.write_text(f"{head}{START}\n{render_table()}\n{END}{rest.split(END, 1)[1]}")
    sys.exit(0)
