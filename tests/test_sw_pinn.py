"""PINN training: stencils = stein.py, batched losses = plain forwards, exact networks have zero
loss, ZO lowers the loss, first-order gradient = finite differences, fixed path = its spec,
resume bit-identity through the trainer, presets load."""

import json

import numpy as np
import pytest

from fotrain.sw.config import Config, LayerConfig, TrainConfig, ZOConfig, load_config
from fotrain.sw.config.pinn import PINNConfig
from fotrain.sw.errors import ConfigError
from fotrain.sw.model import network_forward, network_forward_fixed
from fotrain.sw.pinn.collocation import Collocation
from fotrain.sw.pinn.fixed import PINNFixedMethod
from fotrain.sw.pinn.method import PINNMethod
from fotrain.sw.pinn.problems import HJB, Heat
from fotrain.sw.pinn.stein import finite_differences, sparse_grid_stein
from fotrain.sw.pinn.stencil import fd_stencil, grid_stencil
from fotrain.sw.pinn.task import PDETask
from fotrain.sw.train.registry import make_method
from fotrain.sw.train.trainer import Trainer


def tiny(task="hjb20", method="zo", numerics="float", blocks="core", **zo):
    """21 -> 16 (TT rank 2, sin) -> 1: the HJB network shape at toy size."""
    layers = (LayerConfig(21, 16, in_modes=(1, 3, 7), out_modes=(4, 2, 2), ranks=(1, 2, 2, 1),
                          bias=True, activation="sin"),
              LayerConfig(16, 1, kind="dense", bias=True))
    return Config(name="tiny-pinn", layers=layers,
                  train=TrainConfig(task=task, method=method, numerics=numerics, batch_size=3,
                                    lr=1e-2, max_steps=4, log_every=1),
                  zo=ZOConfig(blocks=blocks, queries=4, precision="float64", fixed_mu_lsb=16,
                              **zo))


def fn(p):
    return np.sin(p).sum(axis=1) + 0.3 * p[:, 0] * p[:, 1] ** 2


@pytest.mark.parametrize("kind", ["fd", "sparse_grid"])
def test_stencils_equal_stein(kind):
    x = np.random.default_rng(0).random((5, 6))
    axes = range(5)
    if kind == "fd":
        st, ref = fd_stencil(6, 0.05, axes), finite_differences(fn, x, h=0.05, laplacian_axes=axes)
    else:
        st = grid_stencil(6, 0.1, 3, axes)
        ref = sparse_grid_stein(fn, x, sigma=0.1, level=3, laplacian_axes=axes)
    u = fn((x[:, None, :] + st.offsets[None]).reshape(-1, 6)).reshape(5, -1)
    value, grad, lap = st.estimate(u)
    assert st.evals_per_point == ref.evals_per_point
    np.testing.assert_allclose(value, ref.value, atol=1e-12)
    np.testing.assert_allclose(grad, ref.grad, atol=1e-10)
    np.testing.assert_allclose(lap, ref.laplacian, atol=1e-8)


@pytest.mark.parametrize("boundary", [0, 2])
@pytest.mark.parametrize("blocks", [["0.core1"], ["0.core2"], ["0.bias"], ["1.w"],
                                    ["0.core0", "0.core2", "1.bias"]])
def test_batched_block_losses_equal_plain_forwards(blocks, boundary):
    m = PINNMethod(tiny(), seed=1)
    rng = np.random.default_rng(2)
    x = rng.random((3, 21))
    if boundary:
        x = np.concatenate([x, m.problem.sample_boundary(boundary, rng=rng)])
    col = Collocation(m.problem, m.stencil, x, boundary)
    from fotrain.sw.pinn.net import BaseEval
    base = BaseEval(m.cfg, m.p, col.xi, m.stencil.offsets, np.float64, extra=col.xb)
    assert base.size == 3 * 43 + boundary
    np.testing.assert_allclose(base.out, network_forward(m.cfg, m.p, col.points)[:, 0],
                               atol=1e-13)
    rng = np.random.default_rng(3)
    u = {n: rng.choice([-1.0, 1.0], size=(4, *m.p[n].shape)) for n in blocks}
    got = m.block_losses(base, col, blocks, u, [0.01, -0.01])
    for a, s in enumerate([0.01, -0.01]):
        for q in range(4):
            moved = {**m.p, **{n: m.p[n] + s * u[n][q] for n in blocks}}
            ref = col.losses(network_forward(m.cfg, moved, col.points)[:, 0][None])[0]
            assert got[a, q] == pytest.approx(ref, abs=1e-10)


def test_first_order_gradient_matches_finite_differences():
    m = PINNMethod(tiny(method="bp"), seed=0)
    col = Collocation(m.problem, m.stencil, np.random.default_rng(4).random((3, 21)))
    loss, grads = m.first_order(col)
    assert_grads_match_fd(m, col, grads, ("0.core0", "0.core2", "0.bias", "1.w"), seed=5)


def assert_grads_match_fd(m, col, grads, names, seed):
    """Directional derivatives of ``col.losses`` along random directions equal ``grads``."""
    rng = np.random.default_rng(seed)
    for n in names:
        d = rng.normal(size=m.p[n].shape)
        ls = [col.losses(network_forward(m.cfg, {**m.p, n: m.p[n] + e * d}, col.points)[:, 0]
                         [None])[0] for e in (1e-6, -1e-6)]
        assert np.sum(grads[n] * d) == pytest.approx((ls[0] - ls[1]) / 2e-6, rel=1e-5)


@pytest.mark.parametrize("derivatives", ["fd", "sparse_grid"])
def test_exact_network_has_zero_hjb_loss_through_the_method(derivatives):
    m = PINNMethod(tiny(), seed=0, pinn=PINNConfig(derivatives=derivatives))
    for k, v in m.p.items():  # NN == 1: the exact solution u = sum(x) + 1 - t
        v[...] = 1.0 if k == "1.bias" else 0.0
    x = np.random.default_rng(6).random((3, 21))
    loss, grads = m.zo_gradient(Collocation(m.problem, m.stencil, x), step=0)
    assert loss < 1e-16  # rounding of u ~ 10 through the stencil gains (1/h^2, 16,000/sigma^2)
    test = np.random.default_rng(7).random((50, 21))
    np.testing.assert_allclose(m.predict(test)[:, 0], HJB().exact(test), atol=1e-12)


def test_heat_exact_network_residual_small():
    heat = Heat()
    col = Collocation(heat, fd_stencil(21, 0.01, heat.laplacian_axes),
                      np.random.default_rng(8).random((20, 21)))
    r = col.residuals(heat.exact_network(col.points)[None])
    assert np.abs(r).max() < 1e-4  # O(h^2) truncation of the finite differences


def test_zo_steps_reduce_the_loss():
    cfg = tiny(blocks="all")
    m = PINNMethod(cfg.replace(zo=ZOConfig(blocks="all", queries=8, precision="float64")), seed=3)
    x = np.random.default_rng(9).random((3, 21))
    col = Collocation(m.problem, m.stencil, x)
    first = m.zo_gradient(col, 0)[0]
    for s in range(40):
        m.train_step(x, np.zeros(3, np.int64), step=s, epoch=0, lr=1e-2)
    assert m.zo_gradient(col, 99)[0] < 0.5 * first


def test_fixed_path_equals_its_spec():
    cfg = tiny(numerics="fixed").replace(pinn=PINNConfig(boundary_points=1))
    m = make_method(cfg, seed=2)
    assert isinstance(m, PINNFixedMethod)
    rng = np.random.default_rng(10)
    face = m.problem.sample_boundary(1, rng=rng)
    col = m.collocation(np.concatenate([rng.random((2, 21)), face]))
    assert col.points.shape[0] == 2 * 43 + 1
    act = cfg.formats.act
    xq = act.quantize(col.points)
    caches: dict = {}
    codes = m.network_codes(col.points, caches=caches)
    np.testing.assert_array_equal(codes, network_forward_fixed(cfg, m.q, xq)[:, 0])
    u = np.random.default_rng(11).choice([-1, 1], size=(4, *m.q["0.core1"].shape))
    got = m.block_losses(col, caches, "0.core1", u)
    for a, s in enumerate([16, -16]):
        for q in range(4):
            moved = {**m.q, "0.core1": m.q["0.core1"] + s * u[q]}
            nn = act.to_float(network_forward_fixed(cfg, moved, xq)[:, 0])
            assert got[a, q] == col.losses(nn[None])[0]
    before = {k: v.copy() for k, v in m.q.items()}
    m.train_step(np.random.default_rng(12).random((3, 21)), np.zeros(3, np.int64), step=0,
                 epoch=0, lr=1e-2)
    assert all(v.dtype == np.int64 for v in m.q.values())
    assert any((m.q[k] != before[k]).any() for k in m.q)


@pytest.mark.parametrize("numerics", ["float", "fixed"])
def test_resume_is_bit_identical_through_the_trainer(tmp_path, numerics):
    cfg = tiny(numerics=numerics)
    task = PDETask(cfg)
    full = make_method(cfg, seed=0)
    Trainer(cfg, full, task, tmp_path / "a", progress=False).run()
    short = cfg.replace(train=TrainConfig(**{**cfg.train.to_dict(), "max_steps": 2}))
    Trainer(short, make_method(short, seed=0), task, tmp_path / "b", progress=False).run()
    resumed = make_method(cfg, seed=0)
    s = Trainer(cfg, resumed, task, tmp_path / "b", progress=False).run(resume=True)
    for k, v in full.state().items():
        np.testing.assert_array_equal(v, resumed.state()[k], err_msg=k)
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["rel_l2"] == s["rel_l2"] and s["network_evals_per_iteration"] > 0


def test_resumed_fixed_run_reports_every_overflow_event(tmp_path):
    """Overflow counts travel in the checkpoint: a run stopped after 2 of 4 steps and resumed
    reports the events of all 4 (perturbations large enough to saturate)."""
    cfg = tiny(numerics="fixed", blocks="all").with_overrides(["zo.fixed_mu_lsb=12000"])
    task = PDETask(cfg)
    full = Trainer(cfg, make_method(cfg, seed=0), task, tmp_path / "a", progress=False).run()
    short = cfg.replace(train=TrainConfig(**{**cfg.train.to_dict(), "max_steps": 2}))
    part = Trainer(short, make_method(short, seed=0), task, tmp_path / "b", progress=False).run()
    resumed = Trainer(cfg, make_method(cfg, seed=0), task, tmp_path / "b",
                      progress=False).run(resume=True)
    assert part["overflow_events"] > 0  # events before the stop, lost if not checkpointed
    assert resumed["overflow_events"] == full["overflow_events"]
    assert resumed["overflow_by_site"] == full["overflow_by_site"]


@pytest.mark.parametrize("name", ["hjb20-tt-zo", "hjb20-tt-zo-fixed16", "heat20-tt-zo",
                                  "heat20-tt-bp"])
def test_presets_load_and_count_evaluations(name):
    cfg = load_config(name)
    m = make_method(cfg, seed=0)
    assert m.params == 1929
    per_it = m.summary()["network_evals_per_iteration"]
    if name == "hjb20-tt-zo":
        assert per_it == 16 * 43 * 21
    if name == "hjb20-tt-zo-fixed16":  # every entry at once: one block of 2 x 10 queries
        assert per_it == 16 * 43 * 21
    if name.startswith("heat20"):  # 16 interior points x 43 + 16 boundary points x 1
        assert cfg.pinn.boundary_points == 16
        assert per_it == (16 * 43 + 16) * (21 if name.endswith("zo") else 1)


def test_bad_settings_raise_config_error():
    with pytest.raises(ConfigError, match="derivatives"):
        PINNConfig(derivatives="autodiff")
    with pytest.raises(ConfigError, match="level"):
        PINNConfig(level=2)
    with pytest.raises(ConfigError, match="zo.estimator"):
        PINNMethod(tiny(estimator="cge"), seed=0)
    with pytest.raises(ConfigError, match="zo.blocks"):
        make_method(tiny(numerics="fixed", blocks="layer"), seed=0)


def boundary_col(problem, n_interior=3, nb=2, weight=0.5):
    rng = np.random.default_rng(12)
    x = np.concatenate([rng.random((n_interior, 21)), problem.sample_boundary(nb, rng=rng)])
    return Collocation(problem, fd_stencil(21, 0.1, problem.laplacian_axes), x, nb, weight)


@pytest.mark.parametrize("problem", [HJB(), Heat()], ids=lambda p: p.name)
def test_boundary_term_is_the_weighted_squared_error_at_the_face_points(problem):
    col = boundary_col(problem)
    inner = Collocation(problem, col.stencil, col.xp[:3])
    # 2 networks: 3 interior points x E stencil inputs, then the 2 face points once each
    assert col.points.shape == (3 * col.e + 2, 21)
    np.testing.assert_array_equal(col.points[:3 * col.e], inner.points)
    np.testing.assert_array_equal(col.points[3 * col.e:], col.xp[3:])
    nn = np.random.default_rng(13).normal(size=(2, 3 * col.e + 2))
    u_face = np.stack([problem.ansatz(col.xp[3:], nn[c, 3 * col.e:]) for c in range(2)])
    want = (inner.losses(nn[:, :3 * col.e])
            + 0.5 * np.mean((u_face - problem.exact(col.xp[3:])) ** 2, axis=1))
    np.testing.assert_allclose(col.losses(nn), want, rtol=1e-13)
    exact = problem.exact_network(col.points)[None]
    np.testing.assert_allclose(col.boundary_errors(exact), 0.0, atol=1e-12)


def test_first_order_gradient_with_boundary_points_matches_finite_differences():
    m = PINNMethod(tiny(method="bp"), seed=0)
    col = boundary_col(m.problem)
    loss, grads = m.first_order(col)
    assert loss == pytest.approx(col.losses(network_forward(m.cfg, m.p, col.points)[:, 0][None])[0])
    assert_grads_match_fd(m, col, grads, ("0.core1", "0.bias", "1.w", "1.bias"), seed=14)


def test_boundary_points_leave_the_interior_batch_unchanged():
    plain = tiny()
    with_b = plain.replace(pinn=PINNConfig(boundary_points=2))
    a = next(PDETask(plain).batches(1, 3, seed=5))[0]
    b, y = next(PDETask(with_b).batches(1, 3, seed=5))
    assert b.shape == (5, 21) and y.shape == (5,)
    np.testing.assert_array_equal(b[:3], a)
    assert ((b[3:, :20] == 0) | (b[3:, :20] == 1)).any(axis=1).all()
    m = make_method(with_b, seed=0)
    # 3 interior points x 43 stencil inputs + 2 face points once, 6 blocks, 4 queries
    assert m.summary()["network_evals_per_iteration"] == (3 * 43 + 2) * (1 + 6 * 2 * 4)
    m.train_step(b, y, step=0, epoch=0, lr=1e-3)  # the counter agrees with the formula
    assert m.forward_passes == m.summary()["network_evals_per_iteration"]
    with pytest.raises(ConfigError, match="boundary_points"):
        Collocation(m.problem, m.stencil, b, boundary=5)


def test_fixed_all_blocks_path_equals_its_spec():
    cfg = tiny(numerics="fixed", blocks="all")
    m = make_method(cfg, seed=4)
    assert len(m.blocks) == 1 and m.summary()["network_evals_per_iteration"] == 3 * 43 * 9
    col = m.collocation(np.random.default_rng(13).random((2, 21)))
    act, xq = cfg.formats.act, cfg.formats.act.quantize(col.points)
    u = m._all_directions(step=3)
    assert set(u) == set(m.q) and all(u[n].shape == (4, *m.q[n].shape) for n in u)
    np.testing.assert_array_equal(u["1.w"], m._all_directions(step=3)["1.w"])
    got = m.all_losses(col, u)
    for a, s in enumerate([16, -16]):
        for q in range(4):
            moved = {n: m.q[n] + s * u[n][q] for n in m.q}  # every array moved at once
            nn = act.to_float(network_forward_fixed(cfg, moved, xq)[:, 0])
            assert got[a, q] == col.losses(nn[None])[0]
    grads, _ = m.zo_gradient(col, {}, step=3)  # each array divided by s times its own LSB
    dl = got[0] - got[1]
    for n, lsb in (("0.core1", cfg.formats.weight.lsb), ("0.bias", act.lsb)):
        want = np.tensordot(dl / (2 * 16 * lsb), u[n].astype(np.float64), axes=1) / 4
        np.testing.assert_allclose(grads[n], want, rtol=1e-12)
    before = {k: v.copy() for k, v in m.q.items()}
    m._forward = 0
    out = m.train_step(np.random.default_rng(12).random((2, 21)), np.zeros(2, np.int64), step=0,
                       epoch=0, lr=1e-2)
    assert m.forward_passes == 2 * 43 * 9 and out["zero_loss_diff_frac"] < 1
    assert all((m.q[k] != before[k]).any() for k in m.q)  # every array learned


def test_fixed_steps_on_worker_processes_are_bit_identical():
    """The perturbed forwards split over 3 processes (2 spawned) give the same codes, overflow
    counts and evaluation count as one process; ``close`` stops the workers. The perturbation
    (12000 LSBs) is large enough to saturate layer outputs inside the perturbed forwards."""
    cfg = tiny(numerics="fixed", blocks="all").with_overrides(["zo.fixed_mu_lsb=12000"])
    runs = {}
    for workers in (1, 3):
        m = make_method(cfg, seed=2, workers=workers)
        try:
            for step in range(2):
                x = np.random.default_rng(step).random((3, 21)) * 8 - 4
                m.train_step(x, np.zeros(3, np.int64), step=step, epoch=0, lr=1e-2)
        finally:
            m.close()
        assert m.summary()["host_workers"] == workers
        runs[workers] = m
    one, many = runs[1], runs[3]
    for k, v in one.q.items():
        np.testing.assert_array_equal(many.q[k], v, err_msg=k)
    assert many.stats.counts == one.stats.counts
    assert sum(n for k, n in one.stats.counts.items() if k[0].isdigit()) > 0  # in the forwards
    assert many.forward_passes == one.forward_passes
    assert many.pool._pool is None
