"""Method registry: ``cfg.train.method`` (and ``numerics``) -> a :class:`Method` instance.

Rule: ``zo`` / ``hybrid`` -> :mod:`.zo` (float) or :mod:`.zo_fixed` (fixed); the local rules
``tpsgd drtp dfa sdfa shallow`` -> :mod:`.local`; ``bp`` -> :mod:`.local` when the config sets
``local.arch`` (``mlp``, ``cnn``, ``rnn``: the local-learning presets' BP baseline, with the same
memory accounting), else the network backprop reference :mod:`.bp`.
"""

from .config import Config
from .errors import ConfigError
from .method import Method

__all__ = ["make_method"]


def make_method(cfg: Config, *, seed: int, workers: int = 1) -> Method:
    """Build the training method the config asks for (imports only what it needs).

    ``workers``: processes for the perturbed forwards of fixed-point PINN training (the one
    method that uses more than one; results are identical for any count)."""
    if cfg.train.task in ("hjb20", "heat"):
        from .pinn import make_pinn_method

        return make_pinn_method(cfg, seed=seed, workers=workers)
    m, numerics = cfg.train.method, cfg.train.numerics
    if m in ("zo", "hybrid"):
        if numerics == "fixed":
            from .zo_fixed import ZOFixedMethod

            return ZOFixedMethod(cfg, seed=seed)
        from .zo import ZOMethod

        return ZOMethod(cfg, seed=seed)
    if m in ("tpsgd", "drtp", "dfa", "sdfa", "shallow") or (
            m == "bp" and cfg.local.arch != "none"):
        from .local import LocalMethod

        return LocalMethod(cfg, seed=seed)
    if m == "bp":
        if numerics == "fixed":
            raise ConfigError("train.numerics: 'fixed' is not available for method 'bp' "
                              "(the backprop reference runs in float)")
        from .bp import BPMethod

        return BPMethod(cfg, seed=seed)
    raise ConfigError(f"train.method: {m!r} has no implementation for task "
                      f"{cfg.train.task!r}")
