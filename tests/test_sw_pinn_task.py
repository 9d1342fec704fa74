"""PDETask batches: boundary points are appended to an unchanged interior batch."""

import numpy as np
import pytest

from fotrain.sw.config.pinn import PINNConfig
from fotrain.sw.errors import ConfigError
from fotrain.sw.pinn.collocation import Collocation
from fotrain.sw.pinn.task import PDETask
from fotrain.sw.train.registry import make_method


def test_boundary_points_leave_the_interior_batch_unchanged(tiny_pinn):
    plain = tiny_pinn()
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
