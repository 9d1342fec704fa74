"""Fixed-point PINN training: the integer path equals its spec (one block and all blocks at once),
overflow counts survive a resume, and worker processes give bit-identical steps."""

import numpy as np

from fotrain.sw.config import TrainConfig
from fotrain.sw.config.pinn import PINNConfig
from fotrain.sw.model import network_forward_fixed
from fotrain.sw.pinn.fixed import PINNFixedMethod
from fotrain.sw.pinn.task import PDETask
from fotrain.sw.train.registry import make_method
from fotrain.sw.train.trainer import Trainer


def test_fixed_path_equals_its_spec(tiny_pinn):
    cfg = tiny_pinn(numerics="fixed").replace(pinn=PINNConfig(boundary_points=1))
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
    m.train_step(
        np.random.default_rng(12).random((3, 21)), np.zeros(3, np.int64), step=0, epoch=0, lr=1e-2
    )
    assert all(v.dtype == np.int64 for v in m.q.values())
    assert any((m.q[k] != before[k]).any() for k in m.q)


def test_resumed_fixed_run_reports_every_overflow_event(tmp_path, tiny_pinn):
    """Overflow counts travel in the checkpoint: a run stopped after 2 of 4 steps and resumed
    reports the events of all 4 (perturbations large enough to saturate)."""
    cfg = tiny_pinn(numerics="fixed", blocks="all").with_overrides(["zo.fixed_mu_lsb=12000"])
    task = PDETask(cfg)
    full = Trainer(cfg, make_method(cfg, seed=0), task, tmp_path / "a", progress=False).run()
    short = cfg.replace(train=TrainConfig(**{**cfg.train.to_dict(), "max_steps": 2}))
    part = Trainer(short, make_method(short, seed=0), task, tmp_path / "b", progress=False).run()
    resumed = Trainer(cfg, make_method(cfg, seed=0), task, tmp_path / "b", progress=False).run(
        resume=True
    )
    assert part["overflow_events"] > 0  # events before the stop, lost if not checkpointed
    assert resumed["overflow_events"] == full["overflow_events"]
    assert resumed["overflow_by_site"] == full["overflow_by_site"]


def test_fixed_all_blocks_path_equals_its_spec(tiny_pinn):
    cfg = tiny_pinn(numerics="fixed", blocks="all")
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
    out = m.train_step(
        np.random.default_rng(12).random((2, 21)), np.zeros(2, np.int64), step=0, epoch=0, lr=1e-2
    )
    assert m.forward_passes == 2 * 43 * 9 and out["zero_loss_diff_frac"] < 1
    assert all((m.q[k] != before[k]).any() for k in m.q)  # every array learned


def test_fixed_steps_on_worker_processes_are_bit_identical(tiny_pinn):
    """The perturbed forwards split over 3 processes (2 spawned) give the same codes, overflow
    counts and evaluation count as one process; ``close`` stops the workers. The perturbation
    (12000 LSBs) is large enough to saturate layer outputs inside the perturbed forwards."""
    cfg = tiny_pinn(numerics="fixed", blocks="all").with_overrides(["zo.fixed_mu_lsb=12000"])
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
