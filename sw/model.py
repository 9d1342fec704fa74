"""A network built from ``Config.layers``: parameters, float and fixed-point forward passes.

Parameters live in a flat ``dict[str, ndarray]`` with names ``"<layer>.core<k>"`` (TT cores,
``(r_{k-1}, n_k, m_k, r_k)``), ``"<layer>.w"`` (dense, ``(out, in)``) and ``"<layer>.bias"``.
Layer ``l`` computes ``z_l = h_{l-1} @ W_l.T + b_l`` and ``h_l = act_l(z_l)``; the network output
is ``h_L`` (logits for classification).

Fixed point: weights and cores are ``formats.weight`` codes, biases and activations
``formats.act`` codes; each layer is :func:`~fotrain.sw.tt.tt_forward_fixed` or
:func:`~fotrain.sw.dense.dense_forward_fixed`, then the activation on codes: ``relu`` is
``max(c, 0)`` (exact); ``tanh`` and ``sin`` are the exact function rounded into ``act`` (RND),
i.e. a lookup table over the input codes, which is what an RTL LUT stores.
"""

import functools
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from .config import Config, LayerConfig
from .dense import dense_forward_fixed, dense_init
from .qformat import OverflowStats, QFormat, Rounding
from .tt import contract_from, core_matrix, tt_forward_fixed, tt_init, tt_to_dense

__all__ = [
    "activate",
    "activate_fixed",
    "activation_lut",
    "activation_grad",
    "dense_equivalents",
    "init_params",
    "layer_linear",
    "network_forward",
    "network_forward_fixed",
    "param_names",
    "quantize_params",
]

FloatArray = npt.NDArray[np.float64]


def param_names(cfg: Config) -> list[str]:
    """Parameter names in a fixed order (layers in order; cores, weight, then bias)."""
    names = []
    for i, layer in enumerate(cfg.layers):
        if layer.kind == "tt":
            names += [f"{i}.core{k}" for k in range(len(layer.in_modes))]
        else:
            names.append(f"{i}.w")
        if layer.bias:
            names.append(f"{i}.bias")
    return names


def init_params(
    cfg: Config, *, rng: np.random.Generator, gain: float = 2.0
) -> dict[str, FloatArray]:
    """Kaiming-like initial parameters (TT cores via :func:`tt_init`), zero biases."""
    params: dict[str, FloatArray] = {}
    for i, layer in enumerate(cfg.layers):
        g = 1.0 if i == len(cfg.layers) - 1 else gain
        if layer.kind == "tt":
            for k, core in enumerate(
                tt_init(layer.in_modes, layer.out_modes, layer.ranks, rng=rng, gain=g)
            ):
                params[f"{i}.core{k}"] = core
        else:
            params[f"{i}.w"] = dense_init(layer.out_features, layer.in_features, rng=rng, gain=g)
        if layer.bias:
            params[f"{i}.bias"] = np.zeros(layer.out_features)
    return params


@overload
def activate(name: str, z: FloatArray) -> FloatArray: ...
@overload
def activate(name: str, z: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]: ...
def activate(name: str, z: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
    """Float activation (same dtype as ``z``)."""
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sin":
        return np.sin(z)
    return z


@overload
def activation_grad(name: str, z: FloatArray) -> FloatArray: ...
@overload
def activation_grad(
    name: str, z: npt.NDArray[np.floating[Any]]
) -> npt.NDArray[np.floating[Any]]: ...
def activation_grad(name: str, z: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
    """Derivative of :func:`activate` at ``z`` (same dtype as ``z``)."""
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "sin":
        return np.cos(z)
    return np.ones_like(z)


def activate_fixed(
    name: str, codes: npt.NDArray[np.int64], fmt: QFormat, stats: OverflowStats | None = None
) -> npt.NDArray[np.int64]:
    """Activation on ``fmt`` codes (see the module docstring)."""
    if name == "relu":
        return np.maximum(codes, 0)
    if name in ("tanh", "sin"):
        table = activation_lut(name, fmt)
        codes = np.asarray(codes, dtype=np.int64)
        if table is None or (
            codes.size and (codes.min() < fmt.min_code or codes.max() > fmt.max_code)
        ):
            # no table (wide format, or an entry saturates) or codes outside the format
            lut_fmt = fmt.with_(rounding=Rounding.RND)
            return lut_fmt.quantize(
                activate(name, fmt.to_float(codes)), stats=stats, site=f"act.{name}"
            )
        if stats is not None:
            stats.add(f"act.{name}", 0)
        return table[codes - fmt.min_code]
    return codes


LUT_MAX_WIDTH = 20  #: widest ``act`` format served by a table (2**20 entries, 8 MiB)


@functools.lru_cache(maxsize=16)
def activation_lut(name: str, fmt: QFormat) -> npt.NDArray[np.int64] | None:
    """Table ``T[c - fmt.min_code]`` of ``activate_fixed(name, c)`` over every code ``c`` of
    ``fmt``, built by the direct computation itself (so equal by construction); ``None`` when
    ``fmt`` is wider than :data:`LUT_MAX_WIDTH` bits or some entry saturates (then every call
    computes directly, so the overflow count per input stays exact)."""
    if fmt.width > LUT_MAX_WIDTH:
        return None
    scratch = OverflowStats()
    codes = np.arange(fmt.min_code, fmt.max_code + 1, dtype=np.int64)
    table = fmt.with_(rounding=Rounding.RND).quantize(
        activate(name, fmt.to_float(codes)), stats=scratch
    )
    if scratch.total:
        return None
    table.setflags(write=False)
    return table


def dense_equivalents(cfg: Config, params: dict[str, FloatArray]) -> dict[int, FloatArray]:
    """Dense ``W`` of every TT layer whose dense product is cheaper than its TT contraction.

    Used for the layers *after* a perturbed one, evaluated on ``2Q x B`` samples per block: the
    same matrix, fewer MACs (e.g. MNIST 1024 -> 10: 10,240 dense vs 41,184 TT MACs per sample).
    """
    out = {}
    for i, layer in enumerate(cfg.layers):
        if layer.kind == "tt" and layer.in_features * layer.out_features < layer.macs(1):
            cores = [params[f"{i}.core{k}"] for k in range(len(layer.in_modes))]
            out[i] = tt_to_dense(cores).astype(cores[0].dtype)
    return out


def layer_linear(
    layer: LayerConfig,
    params: dict[str, FloatArray],
    i: int,
    h: FloatArray,
    cache: list | None = None,
    dense: dict[int, FloatArray] | None = None,
) -> FloatArray:
    """Float pre-activation ``z = h @ W.T + b`` of layer ``i`` (``cache`` gets TT core inputs;
    ``dense`` may supply an equivalent dense ``W``, see :func:`dense_equivalents`)."""
    if dense is not None and i in dense:
        z = h @ dense[i].T
    elif layer.kind == "tt":
        cores = [params[f"{i}.core{k}"] for k in range(len(layer.in_modes))]
        mats = [core_matrix(g) for g in cores]
        t = np.ascontiguousarray(h.T)
        z = contract_from(cores, t, h.shape[0], lambda m, k: mats[k] @ m, cache=cache)
    else:
        z = h @ params[f"{i}.w"].T
    if layer.bias:
        z = z + params[f"{i}.bias"]
    return z


def network_forward(
    cfg: Config,
    params: dict[str, FloatArray],
    x: FloatArray,
    *,
    start: int = 0,
    caches: dict[int, Any] | None = None,
    dense: dict[int, FloatArray] | None = None,
) -> FloatArray:
    """Float forward from layer ``start`` (``x`` is that layer's input) to the output.

    ``caches[i]`` (when given) receives ``{"h": input, "T": [core inputs], "z": pre-act}``.
    """
    h = x
    for i in range(start, len(cfg.layers)):
        layer = cfg.layers[i]
        core_inputs: list | None = [] if caches is not None else None
        z = layer_linear(layer, params, i, h, core_inputs, dense)
        if caches is not None:
            caches[i] = {"h": h, "T": core_inputs, "z": z}
        h = activate(layer.activation, z)
    return h


def quantize_params(
    cfg: Config, params: dict[str, FloatArray], stats: OverflowStats | None = None
) -> dict[str, npt.NDArray[np.int64]]:
    """Weights/cores to ``formats.weight`` codes, biases to ``formats.act`` codes."""
    f = cfg.formats
    return {
        k: (f.act if k.endswith(".bias") else f.weight).quantize(
            v, stats=stats, site=f"quantize.{k}"
        )
        for k, v in params.items()
    }


def network_forward_fixed(
    cfg: Config,
    qparams: dict[str, npt.NDArray[np.int64]],
    x_codes: npt.NDArray[np.int64],
    *,
    stats: OverflowStats | None = None,
) -> npt.NDArray[np.int64]:
    """Bit-exact integer forward: ``act`` codes in, ``act`` codes out."""
    f = cfg.formats
    h = x_codes
    for i, layer in enumerate(cfg.layers):
        bias = qparams.get(f"{i}.bias")
        if layer.kind == "tt":
            cores = [qparams[f"{i}.core{k}"] for k in range(len(layer.in_modes))]
            z = tt_forward_fixed(cores, h, f, bias=bias, stats=stats)
        else:
            z = dense_forward_fixed(qparams[f"{i}.w"], h, f, bias=bias, stats=stats)
        h = activate_fixed(layer.activation, z, f.act, stats)
    return h
