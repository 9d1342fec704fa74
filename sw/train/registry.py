"""Method registry: ``cfg.train.method`` (and ``numerics``) -> a :class:`Method` instance.

The one place that chooses between float and fixed-point implementations. Rule: the PINN tasks
(``hjb20``, ``heat``) -> :mod:`fotrain.sw.pinn.method` (float) or :mod:`fotrain.sw.pinn.fixed`;
``zo`` / ``hybrid`` -> :mod:`fotrain.sw.zo.method` (float) or :mod:`fotrain.sw.zo.fixed`; the
local rules ``tpsgd drtp dfa sdfa shallow`` -> :mod:`fotrain.sw.local.method`; ``bp`` -> the
same local method when the config sets ``local.arch`` (``mlp``, ``cnn``, ``rnn``: the
local-learning presets' BP baseline, with the same memory accounting), else the network
backprop reference :mod:`.backprop`.
"""

from ..config import Config
from ..errors import ConfigError
from ..local.method import LocalMethod
from ..pinn.fixed import PINNFixedMethod
from ..pinn.method import PINNMethod
from ..zo.fixed import ZOFixedMethod
from ..zo.method import ZOMethod
from .backprop import BPMethod
from .method import Method

__all__ = ["make_method"]


def make_method(cfg: Config, *, seed: int, workers: int = 1) -> Method:
    """Build the training method the config asks for.

    ``workers``: processes for the perturbed forwards of fixed-point PINN training (the one
    method that uses more than one; results are identical for any count)."""
    if cfg.train.task in ("hjb20", "heat"):
        if cfg.train.numerics == "fixed":
            return PINNFixedMethod(cfg, seed=seed, workers=workers)
        return PINNMethod(cfg, seed=seed)
    m, numerics = cfg.train.method, cfg.train.numerics
    if m in ("zo", "hybrid"):
        if numerics == "fixed":
            return ZOFixedMethod(cfg, seed=seed)
        return ZOMethod(cfg, seed=seed)
    if m in ("tpsgd", "drtp", "dfa", "sdfa", "shallow") or (m == "bp" and cfg.local.arch != "none"):
        return LocalMethod(cfg, seed=seed)
    if m == "bp":
        if numerics == "fixed":
            raise ConfigError(
                "train.numerics: 'fixed' is not available for method 'bp' "
                "(the backprop reference runs in float)"
            )
        return BPMethod(cfg, seed=seed)
    raise ConfigError(f"train.method: {m!r} has no implementation for task {cfg.train.task!r}")
