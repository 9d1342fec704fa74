"""Why fixed-point PINN training breaks: the derivative estimates' quantization error.

The fixed PINN (:mod:`~fotrain.sw.pinn.fixed`) forms ``u_t``, ``grad u`` and ``Lap u`` from network
values at stencil offsets. Each fixed-point value carries rounding error ``e`` (a few act LSBs after
the layers' roundings), and the stencil multiplies it by its coefficients: ``1 / (2h)`` for a
gradient component and ``1 / h**2`` per Laplacian axis for central differences with step ``h``
(``1 / sigma**2`` and ``1 / sigma**4`` for the Stein rule), so the Laplacian error grows like
``sqrt(6 n_axes) * rms(e) / h**2``. :func:`estimate_noise` measures it directly: the same
parameters (the fixed codes, dequantized) and the same points through the fixed network and the
float network, both pushed through the training stencil and the PDE residual.

Returned numbers (root mean square over ``points`` uniform collocation points):

- ``nn_err``: fixed minus float network output (the ``e`` above), and ``act_lsb``;
- ``value_err``, ``grad_err`` (Euclidean norm per point), ``lap_err``: estimate errors;
- ``lap_float``, ``residual_float``: the float Laplacian and residual (the signal);
- ``residual_err``: fixed minus float residual, the noise floor of the training loss
  (``loss >= residual_err**2`` on average);
- ``lap_gain``: ``lap_err / nn_err``, the amplification of the stencil.
"""

import dataclasses
from typing import Any

import numpy as np

from ..config import Config
from ..model import network_forward
from ..pinn.fixed import PINNFixedMethod
from ..pinn.task import pinn_settings

__all__ = ["estimate_noise"]


def _rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(a))))


def estimate_noise(cfg: Config, *, points: int = 256, seed: int = 0) -> dict[str, Any]:
    """Fixed-vs-float error of the PINN estimates at ``cfg``'s initial parameters (docstring)."""
    # every sampled point is an interior collocation point (boundary data carries no estimate)
    interior = dataclasses.replace(pinn_settings(cfg), boundary_points=0)
    method = PINNFixedMethod(cfg, seed=seed, pinn=interior)
    rng = np.random.default_rng([seed, 0x5E])
    col = method.collocation(method.problem.sample_collocation(points, rng=rng))
    act = cfg.formats.act
    nn_fixed = act.to_float(method.network_codes(col.points))
    nn_float = network_forward(cfg, method._floats(), col.points)[:, 0]
    est_q = col.estimates(nn_fixed[None])
    est_f = col.estimates(nn_float[None])
    r_q, r_f = col.residuals(nn_fixed[None])[0], col.residuals(nn_float[None])[0]
    nn_err = _rms(nn_fixed - nn_float)
    lap_err = _rms(est_q[2] - est_f[2])
    return {
        "formats": {
            "weight": str(cfg.formats.weight),
            "act": str(act),
            "acc": str(cfg.formats.acc),
        },
        "act_lsb": act.lsb,
        "derivatives": method.stencil.kind,
        "sigma": method.pinn.sigma or method.problem.default_sigma,
        "points": points,
        "nn_err": nn_err,
        "value_err": _rms(est_q[0] - est_f[0]),
        "grad_err": _rms(np.linalg.norm(est_q[1] - est_f[1], axis=-1)),
        "lap_err": lap_err,
        "lap_float": _rms(est_f[2]),
        "residual_float": _rms(r_f),
        "residual_err": _rms(r_q - r_f),
        "lap_gain": lap_err / nn_err if nn_err > 0 else float("nan"),
    }
