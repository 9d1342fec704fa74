"""Resume exactness: a run killed (SIGKILL) or stopped anywhere, then resumed, ends with the
metrics.jsonl, summary and parameters of an uninterrupted run (apart from wall-time fields).

The killed runs go through the real command in a subprocess. Most kill themselves at a chosen
point (after the n-th metric line, half-way through a metric line, between a checkpoint's
temporary file and its rename, before a fresh run is renamed into place) so the points are
deterministic; one is killed from outside at whatever moment it has reached. Stops inside and at
the end of epochs use ``max_steps`` in process, for float, backprop and fixed-point methods.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fotrain.sw.train.registry import make_method
from fotrain.sw.train.trainer import Trainer

# 96 samples / batch 16 = 6 steps per epoch, 2 epochs; lines at steps 4, 8, 12 and evals at the
# epoch ends 6 and 12; checkpoints at 5 and 10 and every epoch end: no two periods agree
SMALL = [
    "--set", "train.train_limit=96", "--set", "train.test_limit=64",
    "--set", "train.batch_size=16", "--set", "zo.queries=2", "--set", "train.log_every=4",
    "--set", "train.checkpoint_every=5", "--epochs", "2", "--no-progress",
]  # fmt: skip
PRESETS = ["mnist-tt-zo", "mnist-tt-zo-fixed16"]

DRIVER = r"""
import json, os, signal, sys, time
from fotrain.sw.train import session, trainer
mode, n = sys.argv[1], int(sys.argv[2])
seen = [0]
def hit():
    seen[0] += 1
    return seen[0] == n
def die():
    os.kill(os.getpid(), signal.SIGKILL)
metric, save = trainer.Trainer._metric, trainer.save_checkpoint
def my_metric(self, record):
    if mode == "torn" and hit():
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(record)[:17])
        die()
    metric(self, record)
    if mode == "metric" and hit():
        die()
    if mode == "slow":
        time.sleep(0.2)
def my_save(path, arrays):
    if mode == "save" and hit():
        path.with_name(path.name + ".tmp").write_bytes(b"PK\x03\x04 a torn checkpoint")
        die()
    save(path, arrays)
def my_publish(*a, **k):
    die()
trainer.Trainer._metric, trainer.save_checkpoint = my_metric, my_save
if mode == "stage":
    session.publish = my_publish
from fotrain.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _lines(run: Path) -> list[dict]:
    out = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        rec.pop("wall_s", None)
        out.append(rec)
    return out


def _summary(run: Path) -> dict:
    s = json.loads((run / "summary.json").read_text())
    s.pop("wall_s")
    return s


def _params(run: Path) -> dict[str, np.ndarray]:
    with np.load(run / "checkpoint.npz") as z:
        return {k: z[k] for k in z.files if k.startswith("method/")}


def _assert_same_run(got: Path, want: Path, skip_stops: bool = False) -> None:
    """Same metric lines (``skip_stops``: apart from eval lines inside an epoch, which mark a
    ``max_steps`` stop), summary and parameters, wall time aside."""
    lines = _lines(got)
    if skip_stops:
        lines = [r for r in lines if r["kind"] != "eval" or r["step"] % 8 == 0]
    assert lines == _lines(want)
    assert _summary(got) == _summary(want)
    a, b = _params(got), _params(want)
    assert sorted(a) == sorted(b)
    for k in b:
        assert_array_equal(a[k], b[k], err_msg=k)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, dataset_root):
    """``reference(preset)``: the directory of the uninterrupted run (made once per preset)."""
    made: dict[str, Path] = {}
    env = dict(os.environ, FOTRAIN_DATA=str(dataset_root))

    def get(preset: str) -> Path:
        if preset not in made:
            out = tmp_path_factory.mktemp("ref") / preset
            cmd = [sys.executable, "-m", "fotrain.cli", "train", preset, "--out", str(out)]
            r = subprocess.run([*cmd, *SMALL], capture_output=True, text=True, env=env)
            assert r.returncode == 0, r.stderr
            made[preset] = out
        return made[preset]

    return get


def _driver(tmp_path: Path, mode: str, n: int, preset: str, out: Path, dataset_root: Path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    args = [sys.executable, str(script), mode, str(n), "train", preset, "--out", str(out), *SMALL]
    env = dict(os.environ, FOTRAIN_DATA=str(dataset_root))
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _resume(run_cli, out: Path):
    return run_cli("train", "--resume", str(out), "--no-progress", env_data=True)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize(
    "mode, n",
    [("metric", 1), ("metric", 3), ("torn", 2), ("save", 3), ("save", 5)],
    ids=["after-line-1", "after-line-3", "torn-line-2", "in-save-3", "in-save-5"],
)
def test_killed_then_resumed_equals_uninterrupted(
    preset, mode, n, tmp_path, run_cli, reference, dataset_root
):
    out = tmp_path / "run"
    p = _driver(tmp_path, mode, n, preset, out, dataset_root)
    _, err = p.communicate(timeout=300)
    assert p.returncode == -signal.SIGKILL, err.decode()
    assert not (out / "summary.json").exists()
    r = _resume(run_cli, out)
    assert r.returncode == 0, r.stderr
    _assert_same_run(out, reference(preset))


def test_killed_from_outside_then_resumed_equals_uninterrupted(
    tmp_path, run_cli, reference, dataset_root
):
    """A real ``kill -9`` from another process, at whatever point the run has reached."""
    out = tmp_path / "run"
    p = _driver(tmp_path, "slow", 0, "mnist-tt-zo-fixed16", out, dataset_root)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and p.poll() is None:
        if (out / "metrics.jsonl").is_file() and len(
            (out / "metrics.jsonl").read_text().splitlines()
        ) >= 2:
            break
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=60)
    assert p.returncode == -signal.SIGKILL
    r = _resume(run_cli, out)
    assert r.returncode == 0, r.stderr
    _assert_same_run(out, reference("mnist-tt-zo-fixed16"))


def test_killed_before_the_run_exists_leaves_no_run(tmp_path, run_cli, reference, dataset_root):
    out = tmp_path / "run"
    p = _driver(tmp_path, "stage", 0, "mnist-tt-zo", out, dataset_root)
    p.communicate(timeout=300)
    assert p.returncode == -signal.SIGKILL
    assert not out.exists()  # only the staging directory (no run) is left
    r = _resume(run_cli, out)
    assert r.returncode == 2 and r.stderr.startswith("fotrain: error: --resume: no such run")
    r = run_cli("train", "mnist-tt-zo", "--out", str(out), *SMALL, env_data=True)
    assert r.returncode == 0, r.stderr
    _assert_same_run(out, reference("mnist-tt-zo"))


@pytest.fixture
def tiny(small_tt_config, tiny_task):
    """``tiny(out, extra, max_steps=0, resume=False)``: 2 epochs of 8 steps of the small TT
    net on ``tiny_task()``, lines every 3 steps, checkpoints every 5."""

    def go(out, extra=(), max_steps=0, resume=False):
        cfg = small_tt_config(
            "train.batch_size=16",
            "train.log_every=3",
            "train.checkpoint_every=5",
            "zo.queries=3",
            "train.epochs=2",
            f"train.max_steps={max_steps}",
            *extra,
            preset="mnist-tt-zo",
            activation=None,
        )
        t = Trainer(cfg, make_method(cfg, seed=0), tiny_task(), out, progress=False)
        return t.run(resume=resume)

    return go


@pytest.mark.parametrize(
    "extra",
    [
        (),
        ("train.method='bp'", "train.lr_schedule='cosine'"),
        ("train.numerics='fixed'", "train.loss='mse'", "train.optimizer='sgd'"),
    ],
    ids=["zo", "bp-cosine", "zo-fixed"],
)
def test_stopped_anywhere_then_resumed_equals_uninterrupted(tmp_path, tiny, extra):
    tiny(tmp_path / "a", extra)
    for stop in (1, 4, 5, 8, 11, 15):  # inside epoch 0, at its end, inside epoch 1, ...
        tiny(tmp_path / "b", extra, max_steps=stop, resume=stop != 1)
    tiny(tmp_path / "b", extra, resume=True)
    # the stops inside an epoch (1, 4, 5, 11, 15 of 8-step epochs) left their eval line, the rest
    # is the uninterrupted run's
    stops = [
        (r["step"], r["kind"]) for r in _lines(tmp_path / "b") if r not in _lines(tmp_path / "a")
    ]
    assert stops == [(s, "eval") for s in (1, 4, 5, 11, 15)]
    _assert_same_run(tmp_path / "b", tmp_path / "a", skip_stops=True)
    tiny(tmp_path / "b", extra, resume=True)  # resuming a finished run changes nothing
    _assert_same_run(tmp_path / "b", tmp_path / "a", skip_stops=True)


def test_best_counts_epoch_ends_and_the_final_evaluation(tmp_path, tiny):
    s = tiny(tmp_path / "a")
    evals = [r for r in _lines(tmp_path / "a") if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [8, 16]
    assert s["best_test_accuracy"] == max(r["test_accuracy"] for r in evals)
    s = tiny(tmp_path / "b", max_steps=3)  # stopped inside epoch 0: the final eval counts
    assert s["best_test_accuracy"] == s["test_accuracy"]


def test_resume_cannot_shorten_below_the_epochs_done(tmp_path, tiny, small_tt_config, tiny_task):
    from fotrain.sw.errors import FotrainError

    tiny(tmp_path / "a")
    cfg = small_tt_config(
        "train.batch_size=16", "zo.queries=3", "train.epochs=1", preset="mnist-tt-zo"
    )
    t = Trainer(cfg, make_method(cfg, seed=0), tiny_task(), tmp_path / "a", progress=False)
    with pytest.raises(FotrainError, match="--epochs: 1 is fewer than the 2 epochs"):
        t.run(resume=True)


def _inject(trainer: Trainer, at: int, what: str) -> None:
    """Make step ``at`` (1-based) report a NaN loss, or leave an infinite parameter."""
    step = trainer.method.train_step

    def bad_step(x, y, **kw):
        m = step(x, y, **kw)
        if kw["step"] + 1 == at:
            if what == "loss":
                m = {**m, "loss": float("nan")}
            else:
                state = trainer.method.state()
                name = next(k for k, v in state.items() if v.dtype.kind == "f" and v.size)
                state[name] = state[name].copy()
                state[name].flat[0] = np.inf
                trainer.method.load_state(state)
        return m

    trainer.method.train_step = bad_step  # type: ignore[method-assign]


@pytest.mark.parametrize(
    "what, at, message, good",
    [
        ("loss", 7, "loss became nan at step 6", 5),
        # a parameter made infinite by step 10, saved right after it (no forward in between)
        ("param", 10, "holds non-finite values at step 10", 8),
    ],
)
def test_non_finite_stops_and_keeps_the_last_good_checkpoint(
    tmp_path, small_tt_config, tiny_task, tiny, what, at, message, good
):
    from fotrain.sw.train.trainer import TrainingDiverged

    cfg = small_tt_config(
        "train.batch_size=16",
        "train.log_every=3",
        "train.checkpoint_every=5",
        "zo.queries=3",
        "train.epochs=2",
        preset="mnist-tt-zo",
        activation=None,
    )
    t = Trainer(cfg, make_method(cfg, seed=0), tiny_task(), tmp_path / "b", progress=False)
    _inject(t, at, what)
    with pytest.raises(TrainingDiverged, match=message):
        t.run()
    with np.load(tmp_path / "b" / "checkpoint.npz") as z:
        assert int(z["trainer/step"]) == good  # the checkpoint before the bad step
        params = [k for k in z.files if k.startswith("method/") and z[k].dtype.kind == "f"]
        assert params and all(np.isfinite(z[k]).all() for k in params)
    assert not (tmp_path / "b" / "summary.json").exists()
    tiny(tmp_path / "a")
    tiny(tmp_path / "b", resume=True)  # the good checkpoint resumes to the clean result
    _assert_same_run(tmp_path / "b", tmp_path / "a")


def test_cli_divergence_is_one_line_status_3(tmp_path, run_cli):
    out = tmp_path / "run"
    r = run_cli(
        "train",
        "hjb20-tt-zo",
        "--max-steps",
        "3",
        "--set",
        "train.batch_size=2",
        "--out",
        str(out),
        "--no-progress",
    )  # this tiny batch runs away at step 2 (the PDE task needs no dataset)
    assert r.returncode == 3
    assert r.stderr.splitlines() == [r.stderr.strip()]
    assert r.stderr.startswith("fotrain: error: train: loss ")
    assert "last good checkpoint" in r.stderr and (out / "checkpoint.npz").is_file()
    assert not (out / "summary.json").exists()
