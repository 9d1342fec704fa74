"""Fixed-point local learning against the float rule, and bit-identical resume via the Trainer."""

import json

import numpy as np
import pytest

from fotrain.sw.errors import ConfigError
from fotrain.sw.local.fixed import with_word_length
from fotrain.sw.local.method import LocalMethod
from fotrain.sw.train.trainer import ClassificationTask, Trainer


def test_fixed_step_tracks_float_step_within_lsb_bound(make_fixed_cfg):
    """One step from identical (representable) weights: the forward outputs and the updated weights
    of the integer rule stay within a bound built from the formats' LSBs.

    Forward: each layer adds at most ``rho_A`` (requantize) + ``rho_A`` (tanh table) to an error
    amplified by ``max_i sum_j |W_ij|`` (tanh is 1-Lipschitz). Update: ``|dW_fix - dW| <= lr/B
    sum_b (|delta| |dh| + |ddelta| (|h| + |dh|)) + rho_W`` with ``|ddelta| <= |dy| + (|e| + |dy|)
    |df'| + rho_A`` and ``|df'| <= (2 |y| + |dy|) |dy| + rho_A``.
    """
    cfg_q = make_fixed_cfg("fixed")
    cfg_f = make_fixed_cfg("float")
    mq, mf = LocalMethod(cfg_q, seed=3), LocalMethod(cfg_f, seed=3)
    fw, fa = cfg_q.formats.weight, cfg_q.formats.act
    for n in mf.p:  # start the float rule from the exact integer weights
        mf.p[n][...] = (fw if n.endswith(".w") else fa).to_float(mq.p[n])
    rng = np.random.default_rng(0)
    x = np.round(rng.random((8, 16)) * 255) / 255
    y = rng.integers(0, 3, 8)
    rho = fa.lsb / 2
    # forward bound
    err = rho  # the input quantization
    h = x
    bounds, hs = [], []
    for st in mf.net.all_stages:
        w = mf.p[f"{st.name}.w"]
        hs.append(h)
        h, _ = st.forward(mf.p, h)
        err = np.abs(w).sum(axis=1).max() * err + 2 * rho
        bounds.append(err)
    zq = mq.fixed.forward(x)
    assert np.max(np.abs(fa.to_float(zq) - h)) <= bounds[-1]
    w0 = {n: mf.p[n].copy() for n in mf.p}
    mq.train_step(x, y, step=0, epoch=0, lr=0.5)
    mf.train_step(x, y, step=0, epoch=0, lr=0.5)
    for k, st in enumerate(mf.net.stages):
        hin, dh = hs[k], (bounds[k - 1] if k else rho)
        yk = np.tanh(hin @ w0[f"{st.name}.w"].T + w0[f"{st.name}.b"])
        dy = bounds[k]
        t = mf.targets(k, y)
        e = np.abs(yk - t)
        delta = e * (1 - yk**2)
        dfp = (2 * np.abs(yk) + dy) * dy + rho  # |f'_fix - f'|
        dd = dy * 1 + (e + dy) * dfp + rho  # |delta_fix - delta|
        bound = 0.5 / 8 * (dd.T @ (np.abs(hin) + dh) + delta.T @ np.full_like(hin, dh))
        bound += fw.lsb / 2
        got = np.abs(fw.to_float(mq.p[f"{st.name}.w"]) - mf.p[f"{st.name}.w"])
        assert np.all(got <= bound + 1e-12), f"{st.name}: {got.max()} > bound"
        assert got.max() > 0  # the test can fail: rounding does show up
    assert mq.fixed.stats.total == 0


def test_stochastic_rounding_is_unbiased_and_seeded(make_fixed_cfg):
    cfg = make_fixed_cfg("fixed", local={"fixed_update": "stochastic"})
    a, b = LocalMethod(cfg, seed=1), LocalMethod(cfg, seed=1)
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 16)), rng.integers(0, 3, 8)
    a.train_step(x, y, step=5, epoch=0, lr=0.5)
    b.train_step(x, y, step=5, epoch=0, lr=0.5)
    for n in a.p:
        np.testing.assert_array_equal(a.p[n], b.p[n])
    c = LocalMethod(cfg, seed=1)
    c.train_step(x, y, step=6, epoch=0, lr=0.5)
    assert any(not np.array_equal(a.p[n], c.p[n]) for n in a.p)


def test_word_length_hook(make_fixed_cfg):
    cfg = with_word_length(make_fixed_cfg(), 12, 10)
    f = cfg.formats
    assert (f.weight.width, f.weight.integer, f.act.width, f.act.integer) == (12, 3, 10, 5)
    assert f.acc.frac == f.act.frac + f.weight.frac
    m = LocalMethod(cfg, seed=0)
    m.train_step(np.full((8, 16), 0.5), np.zeros(8, np.int64), step=0, epoch=0, lr=0.5)
    assert max(int(np.abs(a).max()) for a in m.p.values()) < 2**11
    set_cfg = make_fixed_cfg().with_overrides(
        ["formats.act.width=12", "formats.act.frac=7", "formats.acc.frac=20"]
    )
    assert LocalMethod(set_cfg).fixed.fa.width == 12


@pytest.mark.parametrize(
    "change, match",
    [
        ({"method": "dfa"}, r"train\.method: fixed point supports"),
        ({"optimizer": "adam"}, r"train\.optimizer: fixed point supports 'sgd'"),
    ],
)
def test_fixed_errors(change, match, make_fixed_cfg):
    with pytest.raises(ConfigError, match=match):
        LocalMethod(make_fixed_cfg(**change))


@pytest.mark.parametrize(
    "numerics, method, local",
    [
        ("float", "tpsgd", {"cosine_every": 3}),
        ("float", "dfa", {"schedule": "greedy", "cosine_every": 2}),
        ("fixed", "tpsgd", {"fixed_update": "stochastic"}),
        ("fixed", "tpsgd", {"target_amp": 40.0}),  # targets beyond the act range (+-16) saturate
    ],
    ids=["tpsgd", "dfa-greedy", "fixed", "fixed-saturating"],
)
def test_resume_is_bit_identical(tmp_path, numerics, method, local, make_fixed_cfg, tiny_task):
    train = {
        "epochs": 2,
        "lr_schedule": "exp",
        "lr_decay": 0.5,
        "log_every": 2,
        "optimizer": "sgd" if numerics == "fixed" else "adam",
        "lr": 0.5 if numerics == "fixed" else 0.01,
    }
    cfg = make_fixed_cfg(numerics, method, local, **train)
    task = tiny_task(classes=3, features=16, n=96, n_train=64, spread=40, labels_first=True)
    full = LocalMethod(cfg, seed=cfg.train.seed)
    Trainer(cfg, full, task, tmp_path / "a", progress=False).run()
    half_cfg = cfg.with_overrides(["train.epochs=1"])
    Trainer(half_cfg, LocalMethod(half_cfg), task, tmp_path / "b", progress=False).run()
    resumed = LocalMethod(cfg)
    summary = Trainer(cfg, resumed, task, tmp_path / "b", progress=False).run(resume=True)
    for name, arr in full.state().items():  # overflow counts included
        np.testing.assert_array_equal(resumed.state()[name], arr, err_msg=name)
    if local.get("target_amp", 0) > 16:
        assert full.fixed.stats.counts["target"] > 0
        assert resumed.fixed.stats.counts == full.fixed.stats.counts
    saved = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert saved["memory_bytes"]["training_state"] > 0
    assert summary["epochs"] == 2 and "cosine_bp" in saved


@pytest.mark.long
def test_mnist_tpsgd_one_epoch_beats_shallow(tmp_path):
    """tpSGD on 10k MNIST images for one epoch: above 90 % and above the shallow baseline."""
    from fotrain.sw.config import load_config

    task = ClassificationTask.load("mnist", train_limit=10000)
    acc = {}
    for rule in ("tpsgd", "shallow"):
        cfg = load_config("mnist-mlp-tpsgd").with_overrides(
            [f"train.method={rule}", "train.epochs=1"]
        )
        acc[rule] = Trainer(cfg, LocalMethod(cfg), task, tmp_path / rule, progress=False).run()[
            "test_accuracy"
        ]
    assert acc["tpsgd"] > 90.0 and acc["tpsgd"] > acc["shallow"]
