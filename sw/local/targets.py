"""Fixed random target projections of the labels, regenerated from LFSR seeds.

Shared by the float rules (:mod:`.method`) and the fixed-point tpSGD (:mod:`.fixed`), so both
draw the same codes for the same seed and stage.
"""

from typing import Any

import numpy as np
import numpy.typing as npt

from ..perturb import lfsr_bits, query_seed, rademacher

__all__ = ["projection_codes"]


def projection_codes(
    kind: str, seed: int, stage: int, units: int, classes: int, dtype: Any
) -> npt.NDArray[np.floating]:
    """Code matrix ``S`` ``(units, classes)`` of hidden stage ``stage``.

    Column ``c`` comes from the LFSR stream of seed ``query_seed(seed, 0x10CA1 + stage, c)``:
    ``lfsr``: stream bit ``u`` -> +1 / -1 (Rademacher); ``lfsr_uniform``: stream bits ``8u ..
    8u + 7`` read as an unsigned byte ``v`` (bit ``8u`` is the LSB) -> ``(2 v + 1) / 256 - 1``,
    256 levels uniform on (-1, 1). Both are regenerated on demand (hardware stores none).
    ``uniform``: U(-1, 1) from ``default_rng([seed, 0xC0DE, stage])``, stored.
    """
    if kind in ("lfsr", "lfsr_uniform"):
        seeds = [query_seed(seed, 0x10CA1 + stage, c) for c in range(classes)]
        if kind == "lfsr":
            return rademacher(seeds, units).T.astype(dtype)
        bits = lfsr_bits(seeds, units * 8).reshape(classes, units, 8).astype(np.int64)
        v = (bits << np.arange(8, dtype=np.int64)).sum(axis=-1)
        return ((2 * v + 1) / 256.0 - 1).T.astype(dtype)
    rng = np.random.default_rng([int(seed), 0xC0DE, int(stage)])
    return rng.uniform(-1, 1, (units, classes)).astype(dtype)
