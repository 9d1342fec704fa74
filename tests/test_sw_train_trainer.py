"""The trainer: bit-identical resume, atomic safe checkpoints, divergence guard, outputs."""

import json
import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fotrain.sw.config import load_config
from fotrain.sw.train.registry import make_method
from fotrain.sw.train.trainer import (
    CheckpointError,
    ClassificationTask,
    Trainer,
    TrainingDiverged,
    learning_rate,
    shift_images,
)

TRAIN = (
    "train.batch_size=16",
    "train.log_every=2",
    "zo.queries=3",
    "train.lr_schedule='cosine'",
    "train.schedule_epochs=2",
)


@pytest.fixture
def tiny_cfg(small_tt_config):
    """``tiny_cfg(*overrides)``: ``mnist-tt-zo`` on the small TT net (its own activation), batch
    16 with a cosine schedule, then ``overrides``."""
    return lambda *overrides: small_tt_config(
        *TRAIN, *overrides, preset="mnist-tt-zo", activation=None
    )


@pytest.fixture
def run(tiny_cfg, tiny_task):
    """``run(tmp, extra=(), resume=False, epochs=2)``: train on ``tiny_task()`` into ``tmp``;
    the summary and the method."""

    def go(tmp, extra=(), resume=False, epochs=2):
        cfg = tiny_cfg(*extra, f"train.epochs={epochs}")
        method = make_method(cfg, seed=cfg.train.seed)
        return Trainer(cfg, method, tiny_task(), tmp, progress=False).run(resume=resume), method

    return go


@pytest.mark.parametrize(
    "extra",
    [
        (),
        ("train.method='bp'",),
        (
            "train.numerics='fixed'",
            "train.loss='mse'",
            "train.optimizer='sgd'",
            "zo.fixed_mu_lsb=8",
        ),
    ],
    ids=["zo", "bp", "zo-fixed"],
)
def test_resume_is_bit_identical(tmp_path, extra, run):
    _, straight = run(tmp_path / "a", extra, epochs=2)
    run(tmp_path / "b", extra, epochs=1)
    summary, resumed = run(tmp_path / "b", extra, resume=True, epochs=2)
    for k, v in straight.state().items():
        assert_array_equal(resumed.state()[k], v)
    assert summary["epochs"] == 2 and summary["steps"] == 16
    lines = [json.loads(s) for s in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines if r["kind"] == "eval"] == [0, 1]


def test_interrupted_by_max_steps_then_resumed_is_bit_identical(tmp_path, tiny_task, tiny_cfg):
    cfg = tiny_cfg("train.epochs=2", "train.schedule_epochs=0")
    a = make_method(cfg, seed=0)
    Trainer(cfg, a, tiny_task(), tmp_path / "a", progress=False).run()
    cut = cfg.with_overrides(["train.max_steps=5"])
    Trainer(cut, make_method(cut, seed=0), tiny_task(), tmp_path / "b", progress=False).run()
    b = make_method(cfg, seed=0)
    Trainer(cfg, b, tiny_task(), tmp_path / "b", progress=False).run(resume=True)
    for k, v in a.state().items():
        assert_array_equal(b.state()[k], v)


def test_outputs_and_summary_keys(tmp_path, run):
    summary, _ = run(tmp_path, epochs=1)
    for key in (
        "task",
        "method",
        "numerics",
        "test_accuracy",
        "train_forward_passes",
        "params",
        "wall_s",
        "seed",
    ):
        assert key in summary
    assert summary["train_forward_passes"] == 8 * (1 + 2 * 3 * 8)  # 8 steps, 8 blocks
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["params"] == summary["params"]
    assert (tmp_path / "config.toml").is_file()
    assert not list(tmp_path.glob("*.tmp"))


def test_checkpoint_refusals(tmp_path, run):
    run(tmp_path / "r", epochs=1)
    ck = tmp_path / "r" / "checkpoint.npz"
    data = ck.read_bytes()
    ck.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        run(tmp_path / "r", resume=True)
    with open(ck, "wb") as f:
        np.savez(f, evil=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CheckpointError, match="pickled"):
        run(tmp_path / "r", resume=True)
    ck.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(CheckpointError):
        run(tmp_path / "r", resume=True)
    run(tmp_path / "s", epochs=1)  # a valid checkpoint of another geometry
    other = tmp_path / "s" / "checkpoint.npz"
    (tmp_path / "t").mkdir()
    run(tmp_path / "t", ("layers.0.ranks=[1,2,2,1]",), epochs=1)
    (tmp_path / "t" / "checkpoint.npz").write_bytes(other.read_bytes())
    with pytest.raises(CheckpointError, match="array '.*core.*' is float64"):
        run(tmp_path / "t", ("layers.0.ranks=[1,2,2,1]",), resume=True)


def test_divergence_guard_keeps_last_good_checkpoint(tmp_path, run):
    run(tmp_path, epochs=1)
    good = (tmp_path / "checkpoint.npz").read_bytes()
    with pytest.raises(TrainingDiverged, match="more than 1.01x the first loss"):
        run(tmp_path, ("train.lr=50.0", "train.divergence_factor=1.01"), resume=True, epochs=3)
    assert (tmp_path / "checkpoint.npz").read_bytes() == good


def test_learning_rate_schedules():
    cfg = load_config("mnist-tt-zo").with_overrides(
        ["train.lr=1.0", "train.lr_schedule='exp'", "train.lr_decay=0.5"]
    )
    assert learning_rate(cfg, 2, 0, 10) == 0.25
    cfg = cfg.with_overrides(["train.lr_schedule='step'", "train.lr_step_epochs=[1, 3]"])
    assert [learning_rate(cfg, e, 0, 10) for e in range(4)] == [1.0, 0.5, 0.5, 0.25]
    cfg = cfg.with_overrides(["train.lr_schedule='cosine'", "train.lr_min_ratio=0.1"])
    assert learning_rate(cfg, 0, 0, 10) == 1.0
    assert learning_rate(cfg, 0, 10, 10) == pytest.approx(0.1)


def test_shift_images_moves_whole_images_by_seeded_offsets():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 256, size=(400, 36)).astype(np.uint8)  # 6 x 6, no zero pixels
    assert_array_equal(shift_images(x, 0, np.random.default_rng(1)), x)
    out = shift_images(x, 2, np.random.default_rng(1))
    assert_array_equal(out, shift_images(x, 2, np.random.default_rng(1)))
    d = np.random.default_rng(1).integers(0, 5, size=(400, 2)) - 2  # the offsets drawn
    seen = set()
    for img, moved, (dr, dc) in zip(x.reshape(-1, 6, 6), out.reshape(-1, 6, 6), d, strict=True):
        want = np.zeros((6, 6), np.uint8)  # moved[i, j] = img[i + dr, j + dc] where inside
        want[max(0, -dr) : 6 - max(0, dr), max(0, -dc) : 6 - max(0, dc)] = img[
            max(0, dr) : 6 + min(0, dr), max(0, dc) : 6 + min(0, dc)
        ]
        assert_array_equal(moved, want)
        seen.add((int(dr), int(dc)))
    assert len(seen) == 25  # every offset in [-2, 2]^2 occurs


def test_augmented_batches_depend_on_seed_epoch_and_batch_only():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, size=(64, 16)).astype(np.uint8)
    y = rng.integers(0, 10, 64)
    task = ClassificationTask("t", x, y, x[:8], y[:8], augment_shift=1)
    a = list(task.batches(2, 16, seed=5))
    b = list(task.batches(2, 16, seed=5))
    plain = list(ClassificationTask("t", x, y, x[:8], y[:8]).batches(2, 16, seed=5))
    for s, ((xa, ya), (xb, _), (xp, yp)) in enumerate(zip(a, b, plain, strict=True)):
        assert_array_equal(xa, xb)
        assert_array_equal(ya, yp)  # the same samples in the same order, only moved
        raw = np.rint(xp * 255).astype(np.uint8)
        want = shift_images(raw, 1, np.random.default_rng([5, 2, s, 0xA06])) / 255.0
        assert_array_equal(xa, want)
    assert any((xa != xp).any() for (xa, _), (xp, _) in zip(a, plain, strict=True))
    assert not (list(task.batches(3, 16, seed=5))[0][0] == a[0][0]).all()
