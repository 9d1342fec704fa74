"""Local rules (tpSGD, DRTP, DFA, shallow) and the BP reference: gradients against finite
differences, the DRTP/tpSGD family identity, memory accounting, config errors, presets."""

import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fotrain.sw.config import Config, load_config, preset_names
from fotrain.sw.errors import ConfigError
from fotrain.sw.local.layers import local_loss_value
from fotrain.sw.local.method import LocalMethod, network_in_features
from fotrain.sw.local.net import task_loss

CNN_LOCAL = {
    "arch": "cnn",
    "image_size": 8,
    "in_channels": 1,
    "conv_channels": [2, 3],
    "conv_kernel": 3,
    "pool": 2,
}
RNN_LOCAL = {"arch": "rnn", "rnn_input": 4, "rnn_steps": 6, "rnn_hidden": [5, 3]}


@pytest.fixture
def cnn_cfg(make_cfg, dense):
    """``cnn_cfg(method="tpsgd", **local)``: the CNN front end of ``CNN_LOCAL``, head
    12 -> 4 -> 3."""

    def build(method="tpsgd", **local):
        return make_cfg(method, [dense(12, 4), dense(4, 3, "none")], {**CNN_LOCAL, **local})

    return build


@pytest.fixture
def rnn_cfg(make_cfg, dense):
    """``rnn_cfg(method="tpsgd", **local)``: the RNN front end of ``RNN_LOCAL``, head 3 -> 3."""

    def build(method="tpsgd", **local):
        return make_cfg(method, [dense(3, 3, "none")], {**RNN_LOCAL, **local})

    return build


def batch(m, b=4, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.random((b, m.net.in_features))
    return x, rng.integers(0, 3, b)


def stage_input(m, k, x):
    """Input of hidden stage ``k`` (forward through the stages before it)."""
    h = x
    for i in range(k):
        h, _ = m.net.stages[i].forward(m.p, m.net.enter(i, h))
    return m.net.enter(k, h)


def perturb_check(m, fn, grads, eps=1e-6, picks=4, rtol=1e-5, atol=1e-8):
    """Central differences of ``fn()`` (reads ``m.p``) against ``grads`` at random entries."""
    rng = np.random.default_rng(0)
    for name, g in grads.items():
        p = m.p[name]
        for _ in range(picks):
            idx = tuple(int(rng.integers(0, s)) for s in p.shape)
            old = p[idx]
            p[idx] = old + eps
            fp = fn()
            p[idx] = old - eps
            fm = fn()
            p[idx] = old
            np.testing.assert_allclose(
                (fp - fm) / (2 * eps), g[idx], rtol=rtol, atol=atol, err_msg=f"{name}{idx}"
            )


def check_local_stage(m, k, x, y):
    st = m.net.stages[k]
    h = stage_input(m, k, x)
    _, cache = st.forward(m.p, h)
    e, _ = m.signal(k, st.target(cache), y, None)
    grads = st.local_grads(m.p, cache, e)
    assert set(grads) == set(st.names)
    lc = m.cfg.local

    def local_loss():
        _, c = st.forward(m.p, h)  # input h fixed: the stage is detached from the ones below
        t = np.broadcast_to(m.targets(k, y), st.target(c).shape)
        return local_loss_value(lc.local_loss, st.target(c), t, lc.smooth_l1_beta) / len(y)

    perturb_check(m, local_loss, grads)


@pytest.mark.parametrize("loss", ["mse", "smooth_l1", "bce", "l1"])
def test_fc_local_gradient_matches_finite_differences(loss, make_cfg):
    m = LocalMethod(make_cfg(local={"local_loss": loss, "target_amp": 0.7, "smooth_l1_beta": 0.5}))
    x, y = batch(m)
    for k in range(2):
        check_local_stage(m, k, x, y)


@pytest.mark.parametrize("mapping", ["dense", "channel", "pooled"])
def test_conv_local_gradient_matches_finite_differences(mapping, cnn_cfg):
    m = LocalMethod(cnn_cfg(cnn_target=mapping, target_amp=0.5))
    x, y = batch(m)
    for k in range(3):
        check_local_stage(m, k, x, y)
    assert (
        m.net.stages[0].code_shape
        == {"dense": (8, 8, 2), "channel": (1, 1, 2), "pooled": (4, 4, 2)}[mapping]
    )


@pytest.mark.parametrize(
    "steps, windows",
    [("all", 1), ("last", 1), ("ramp", 1), ("mean", 1), ("mean", 3), ("windows", 3)],
)
def test_rnn_local_gradient_detaches_previous_state(steps, windows, make_cfg, dense):
    m = LocalMethod(
        make_cfg(
            "tpsgd",
            [dense(3 * windows, 3, "none")],
            {
                **RNN_LOCAL,
                "rnn_target": steps,
                "target_amp": 0.5,
                "rnn_windows": windows,
                "rnn_readout": "mean" if windows > 1 else "last",
            },
        )
    )
    x, y = batch(m)
    if steps == "windows":  # one code per window and unit: the windows' targets differ
        assert m.net.stages[0].code_shape == (3, 5)
        t = m.targets(0, y)
        assert t.shape == (4, 3, 5) and not np.array_equal(t[:, 0], t[:, 1])
    for k in range(2):
        st = m.net.stages[k]
        h = stage_input(m, k, x)
        _, cache = st.forward(m.p, h)
        prev = np.concatenate([np.zeros_like(cache[1][:, :1]), cache[1][:, :-1]], axis=1)
        e, _ = m.signal(k, st.target(cache), y, None)
        grads = st.local_grads(m.p, cache, e)
        n = st.name

        def local_loss(h=h, prev=prev, n=n, k=k):
            # each step from the *recorded* previous state: s_{t-1} is a constant
            s = np.tanh(h @ m.p[f"{n}.wx"].T + prev @ m.p[f"{n}.wh"].T + m.p[f"{n}.b"])
            s = s[:, -1:] if steps == "last" else s
            if steps == "mean":  # the mean over all 6 steps, whatever the readout windows
                s = s.mean(axis=1, keepdims=True)
            if steps == "windows":  # window means: steps 2w and 2w + 1 (6 steps, 3 windows)
                s = s.reshape(len(s), windows, 6 // windows, -1).mean(axis=2)
            t = np.broadcast_to(m.targets(k, y), s.shape)
            return local_loss_value("mse", s, t) / len(y)

        perturb_check(m, local_loss, grads)


TT_LAYER = {
    "kind": "tt",
    "in_features": 12,
    "out_features": 6,
    "in_modes": [3, 4],
    "out_modes": [2, 3],
    "ranks": 2,
    "bias": True,
    "activation": "tanh",
}


@pytest.mark.parametrize("case", ["mlp", "tt", "cnn", "rnn", "rnn-mean", "rnn-windows", "mse"])
def test_bp_reference_matches_finite_differences(case, make_cfg, dense, cnn_cfg, rnn_cfg):
    cfg = {
        "mlp": lambda: make_cfg("bp"),
        "tt": lambda: make_cfg("bp", [TT_LAYER, dense(6, 3, "none")]),
        "cnn": lambda: cnn_cfg("bp"),
        "rnn": lambda: rnn_cfg("bp"),
        "rnn-mean": lambda: rnn_cfg("bp", rnn_readout="mean"),
        "rnn-windows": lambda: make_cfg(
            "bp", [dense(9, 3, "none")], {**RNN_LOCAL, "rnn_readout": "mean", "rnn_windows": 3}
        ),
        "mse": lambda: make_cfg("bp", train={"loss": "mse"}),
    }[case]()
    m = LocalMethod(cfg)
    if cfg.local.arch == "mlp":
        x = np.random.default_rng(1).random((4, cfg.layers[0].in_features))
        y = np.array([0, 1, 2, 1])
    else:
        x, y = batch(m)
    loss, _, grads = m.net.bp(m.p, x, y, cfg.train.loss)
    assert set(grads) == set(m.p)

    def f():
        return task_loss(m.net.forward(m.p, x), y, cfg.train.loss)[0]

    assert abs(f() - loss) < 1e-12
    perturb_check(m, f, grads, picks=3)


def test_rnn_window_readout_is_the_window_means_in_time_order(make_cfg, dense, rnn_cfg):
    """``rnn_windows = 3`` over 6 steps: the head reads [mean(s_0, s_1), mean(s_2, s_3),
    mean(s_4, s_5)] of the top layer; 1 window is the plain mean over time."""
    cfg = make_cfg(
        "tpsgd",
        [dense(9, 3, "none")],
        {**RNN_LOCAL, "rnn_target": "mean", "rnn_readout": "mean", "rnn_windows": 3},
    )
    m = LocalMethod(cfg)
    x, _ = batch(m)
    h, _ = m.net.stages[-1].forward(m.p, stage_input(m, len(m.net.stages) - 1, x))
    windows = np.concatenate([h[:, 2 * w : 2 * w + 2].mean(axis=1) for w in range(3)], axis=1)
    assert_array_equal(m.net.enter(m.net.front, h), windows)
    one = LocalMethod(rnn_cfg("tpsgd", rnn_target="mean", rnn_readout="mean"))
    assert_array_equal(one.net.enter(one.net.front, h), h.mean(axis=1))


@pytest.mark.parametrize(
    "local, field",
    [
        ({"rnn_readout": "mean", "rnn_windows": 4}, "local.rnn_windows"),  # 4 does not divide 6
        ({"rnn_readout": "last", "rnn_windows": 2}, "local.rnn_windows"),
        ({"rnn_readout": "mean", "rnn_windows": 2}, "layers[0].in_features"),
    ],
)  # head needs 6
def test_rnn_windows_errors_name_the_field(local, field, make_cfg, dense):
    with pytest.raises(ConfigError, match=re.escape(field)):
        LocalMethod(make_cfg("tpsgd", [dense(3, 3, "none")], {**RNN_LOCAL, **local}))


def test_tt_local_gradient_matches_finite_differences(make_cfg, dense):
    m = LocalMethod(make_cfg(layers=[TT_LAYER, dense(6, 3, "none")], local={"target_amp": 0.5}))
    x = np.random.default_rng(2).random((4, 12))
    check_local_stage(m, 0, x, np.array([0, 1, 2, 0]))


def test_drtp_and_tpsgd_are_one_family(make_cfg):
    """tpSGD-MSE with amplitude a = a * grad of (lam/2)|y|^2 - <y, s>, lam = 1/a; DRTP: lam = 0."""
    a = 3.0
    tp = LocalMethod(make_cfg("tpsgd", local={"target_amp": a}))
    dr = LocalMethod(make_cfg("drtp", local={"target_amp": a}))
    x, y = batch(tp, b=6)
    st = tp.net.stages[0]
    _, cache = st.forward(tp.p, stage_input(tp, 0, x))
    yk = st.target(cache)
    s = tp.codes(0)[:, y].T  # unit codes, +-1 from the LFSR
    e_tp, _ = tp.signal(0, yk, y, None)
    e_dr, _ = dr.signal(0, yk, y, None)
    b = len(y)
    np.testing.assert_allclose(e_tp * b, a * ((1 / a) * yk - s), atol=1e-12)
    np.testing.assert_allclose(e_dr * b, a * (0 * yk - s), atol=1e-12)
    np.testing.assert_allclose(e_tp - e_dr, yk / b, atol=1e-12)  # the restoring term


def test_dfa_and_sdfa_signals(make_cfg):
    m = LocalMethod(make_cfg("dfa", local={"target_amp": 2.0}))
    ms = LocalMethod(make_cfg("sdfa", local={"target_amp": 2.0}))
    x, y = batch(m)
    b = len(y)
    dz = np.random.default_rng(5).normal(size=(b, 3)) / b
    yk = np.zeros((b, 5))
    e, _ = m.signal(0, yk, y, dz)
    np.testing.assert_allclose(e, 2.0 * (dz * b) @ m.codes(0).T / b)
    es, _ = ms.signal(0, yk, y, dz)
    np.testing.assert_allclose(es, 2.0 * np.sign(dz) @ m.codes(0).T / b)


def test_memory_accounting_from_arrays(make_cfg, dense):
    b = 8
    cfgs = {
        r: make_cfg(
            r,
            layers=[dense(20, 16), dense(16, 12), dense(12, 3, "none")],
            train={"batch_size": b, "optimizer": "adam"},
            local={"dtype": "float32"},
        )
        for r in ("tpsgd", "bp", "dfa")
    }
    mem = {r: LocalMethod(c).memory() for r, c in cfgs.items()}
    f4 = 4
    # tpSGD holds one stage at a time: its input and output
    assert mem["tpsgd"]["activations"] == max(20 + 16, 16 + 12, 12 + 3) * b * f4
    # BP and DFA hold every stage's input and output until the error arrives
    assert mem["bp"]["activations"] == (20 + 16 + 16 + 12 + 12 + 3) * b * f4
    assert mem["dfa"]["activations"] == mem["bp"]["activations"]
    # gradients: one layer at a time vs all at once
    sizes = [20 * 16 + 16, 16 * 12 + 12, 12 * 3 + 3]
    assert mem["tpsgd"]["gradients"] == max(sizes) * f4
    assert mem["bp"]["gradients"] == sum(sizes) * f4
    # Adam: m and v per parameter plus one int64 step counter per parameter array
    assert mem["tpsgd"]["optimizer"] == 2 * sum(sizes) * f4 + 6 * 8
    assert mem["tpsgd"]["projection"] == 0 and mem["tpsgd"]["projection_cache"] > 0
    assert mem["tpsgd"]["parameters"] == sum(sizes) * f4
    uni = LocalMethod(
        make_cfg("tpsgd", local={"projection": "uniform"}, train={"batch_size": b})
    ).memory()
    assert uni["projection"] == (5 * 3 + 4 * 3) * 8 and uni["projection_cache"] == 0
    for m in mem.values():
        assert m["training_state"] == (
            m["activations"] + m["gradients"] + m["optimizer"] + m["projection"]
        )


def test_cosine_logged_and_shallow_freezes_hidden(make_cfg):
    cfg = make_cfg("tpsgd", local={"cosine_every": 1})
    m = LocalMethod(cfg)
    x, y = batch(m, b=16)
    out = m.train_step(x, y, step=0, epoch=0, lr=1e-2)
    assert {"loss", "acc", "cos0", "cos1"} <= set(out)
    s = m.summary()
    assert s["cosine_bp_samples"] == [1, 1] and all(-1 <= c <= 1 for c in s["cosine_bp"])
    sh = LocalMethod(make_cfg("shallow"))
    before = {n: a.copy() for n, a in sh.p.items()}
    sh.train_step(x, y, step=0, epoch=0, lr=1e-2)
    for n in ("fc0.w", "fc1.w"):
        np.testing.assert_array_equal(sh.p[n], before[n])
    assert not np.array_equal(sh.p["fc2.w"], before["fc2.w"])


def test_arch_none_is_an_mlp(make_cfg):
    a = LocalMethod(make_cfg(local={"arch": "none"}))
    b = LocalMethod(make_cfg(local={"arch": "mlp"}))
    x, y = batch(a)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    assert Config().local.arch == "none"


def test_greedy_schedule_trains_one_stage_per_phase(make_cfg):
    m = LocalMethod(make_cfg("tpsgd", local={"schedule": "greedy", "greedy_epochs": 2}))
    x, y = batch(m, b=8)
    for epoch, moving in [(0, "fc0.w"), (3, "fc1.w"), (4, None)]:
        before = {n: a.copy() for n, a in m.p.items()}
        m.train_step(x, y, step=epoch, epoch=epoch, lr=1e-2)
        changed = {n for n in ("fc0.w", "fc1.w") if not np.array_equal(m.p[n], before[n])}
        assert changed == ({moving} if moving else set())
        assert not np.array_equal(m.p["fc2.w"], before["fc2.w"])


@pytest.mark.parametrize(
    "d, match",
    [
        ({"local": {"arch": "transformer"}}, r"local\.arch: 'transformer' is not one of"),
        ({"local": {"conv_kernel": 4}}, r"local\.conv_kernel: must be odd"),
        ({"local": {"target_amp": 0}}, r"local\.target_amp: must be > 0, got 0"),
        ({"local": {"local_loss": "bce", "activation": "relu"}}, r"local\.local_loss: bce needs"),
        ({"local": {"cnn_target": "global"}}, r"local\.cnn_target: 'global'"),
        ({"local": {"rnn_hidden": []}}, r"local\.rnn_hidden: must be a non-empty"),
        ({"local": {"pool": 64}}, r"local\.pool: shrinks"),
    ],
)
def test_config_errors_name_the_field(d, match):
    with pytest.raises(ConfigError, match=match):
        Config.from_dict(d)


def test_geometry_errors_name_the_field(make_cfg, dense):
    with pytest.raises(ConfigError, match=r"layers\[0\]\.in_features: 13 != 12"):
        LocalMethod(make_cfg(layers=[dense(13, 3, "none")], local=CNN_LOCAL))
    with pytest.raises(ConfigError, match=r"layers\[1\]\.activation: the output layer"):
        LocalMethod(make_cfg(layers=[dense(6, 5), dense(5, 3, "tanh")]))
    with pytest.raises(ConfigError, match=r"train\.method: 'zo' is not a local rule"):
        LocalMethod(make_cfg("zo"))
    with pytest.raises(ConfigError, match=r"local\.schedule: 'greedy' needs a local rule"):
        LocalMethod(make_cfg("bp", local={"schedule": "greedy"}))


MINE = [
    n
    for n in preset_names()
    if n.startswith(("mnist-mlp-", "fmnist-mlp-", "mnist-cnn-", "mnist-rnn-"))
]


def test_all_presets_present():
    want = {
        f"{d}-mlp-{r}"
        for d in ("mnist", "fmnist")
        for r in ("tpsgd", "drtp", "dfa", "shallow", "bp")
    }
    want |= {
        "mnist-cnn-tpsgd",
        "mnist-cnn-bp",
        "mnist-rnn-tpsgd",
        "mnist-rnn-bp",
        "mnist-mlp-tpsgd-fixed16",
    }
    assert want <= set(MINE)


@pytest.mark.parametrize("name", MINE)
def test_preset_loads_and_builds(name):
    cfg = load_config(name)
    assert cfg.name == name and cfg.local.arch in name
    m = LocalMethod(cfg, seed=0)
    assert m.params == cfg.params + sum(
        int(np.prod(a.shape)) for n, a in m.p.items() if n.startswith(("conv", "rnn"))
    )
    assert network_in_features(cfg) == 784 == m.net.in_features
    assert m.predict(np.zeros((2, 784))).shape == (2, 10)


@pytest.mark.parametrize("family", ["mnist-mlp", "fmnist-mlp", "mnist-cnn", "mnist-rnn"])
def test_bp_reference_preset_is_the_same_net(family):
    """The gaps the docs report are against BP on the same network, data and batch size."""
    ref = load_config(f"{family}-bp")
    ref_shapes = {n: a.shape for n, a in LocalMethod(ref, seed=0).p.items()}
    rules = [
        n for n in MINE if n.startswith(f"{family}-") and n != f"{family}-bp" and "fixed" not in n
    ]
    assert f"{family}-tpsgd" in rules
    for name in rules:
        cfg = load_config(name)
        shapes = {n: a.shape for n, a in LocalMethod(cfg, seed=0).p.items()}
        assert shapes == ref_shapes, name
        for field in ("task", "batch_size", "augment_shift", "train_limit"):
            assert getattr(cfg.train, field) == getattr(ref.train, field), (name, field)
