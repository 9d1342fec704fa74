"""Human and machine summaries of a config (``fotrain info``)."""

import math
from typing import Any

from .sw.config import Config
from .sw.tt import tt_core_costs

__all__ = ["config_info", "format_info"]


def _bytes(entries: int, bits: int) -> int:
    return math.ceil(entries * bits / 8)


def config_info(cfg: Config, batch: int = 1) -> dict[str, Any]:
    """Per-layer and total parameters, MACs, memory and compression, as plain JSON data.

    Memory: weights (and biases) at their storage widths; ``buffer_bytes`` is the largest running
    tensor between two cores (or the layer output) at ``formats.act`` width, for ``batch`` inputs.
    """
    f = cfg.formats
    layers = []
    for i, layer in enumerate(cfg.layers):
        cores = []
        if layer.kind == "tt":
            costs = tt_core_costs(layer.in_modes, layer.out_modes, layer.ranks, batch)
            for shape, c in zip(layer.core_shapes, costs, strict=True):
                cores.append(
                    {
                        "shape": list(shape),
                        "entries": math.prod(shape),
                        "gemm": [c.rows, c.k, c.out],
                        "macs": c.macs,
                        "intermediate": c.out_size,
                    }
                )
            peak = max(c["intermediate"] for c in cores)
        else:
            peak = batch * layer.out_features
        bias = layer.out_features if layer.bias else 0
        layers.append(
            {
                "index": i,
                "kind": layer.kind,
                "in_features": layer.in_features,
                "out_features": layer.out_features,
                "in_modes": list(layer.in_modes),
                "out_modes": list(layer.out_modes),
                "ranks": list(layer.ranks),
                "activation": layer.activation,
                "weight_entries": layer.weight_params,
                "bias_entries": bias,
                "params": layer.params,
                "dense_params": layer.dense_params,
                "compression": layer.dense_params / layer.params,
                "macs": layer.macs(batch),
                "dense_macs": batch * layer.in_features * layer.out_features,
                "weight_bytes": _bytes(layer.weight_params, f.weight.width)
                + _bytes(bias, f.act.width),
                "buffer_bytes": _bytes(peak, f.act.width),
                "peak_intermediate": peak,
                "cores": cores,
            }
        )
    totals = {
        k: sum(layer[k] for layer in layers)
        for k in ("params", "dense_params", "macs", "dense_macs", "weight_bytes")
    }
    totals["compression"] = totals["dense_params"] / totals["params"]
    return {
        "name": cfg.name,
        "batch": batch,
        "formats": {k: str(getattr(f, k)) for k in ("weight", "act", "acc")},
        "lanes": cfg.hardware.lanes,
        "layers": layers,
        "total": totals,
        "front_end": front_end_info(cfg),
    }


def front_end_info(cfg: Config) -> dict[str, Any] | None:
    """The conv or recurrent stages before ``layers`` (``local.arch`` ``cnn`` / ``rnn``): their
    parameter shapes and counts, ``None`` for networks that are ``layers`` alone."""
    if cfg.local.arch not in ("cnn", "rnn"):
        return None
    from .sw.local.net import LocalNet

    net = LocalNet(cfg)
    p = net.init(0, "float32")
    stages = [
        {
            "name": st.name,
            "shapes": {n: list(p[n].shape) for n in st.names},
            "params": sum(p[n].size for n in st.names),
        }
        for st in net.stages[: net.front]
    ]
    return {"arch": cfg.local.arch, "stages": stages, "params": sum(st["params"] for st in stages)}


def format_info(info: dict[str, Any]) -> str:
    """Render :func:`config_info` as a text table."""
    fm = info["formats"]
    lines = [
        f"config {info['name']}: weight {fm['weight']}, act {fm['act']}, acc {fm['acc']}, "
        f"{info['lanes']} MAC lanes, batch {info['batch']}",
        f"{'layer':<6}{'kind':<6}{'shape':<12}{'modes / ranks':<36}{'params':>9}"
        f"{'dense':>10}{'ratio':>8}{'MACs':>11}{'dense MACs':>12}{'weights B':>11}"
        f"{'buffer B':>10}",
    ]
    for layer in info["layers"]:
        modes = (
            f"{layer['in_modes']}->{layer['out_modes']} r{layer['ranks'][1:-1]}"
            if layer["kind"] == "tt"
            else "-"
        )
        shape = f"{layer['in_features']}->{layer['out_features']}"
        lines.append(
            f"{layer['index']:<6}{layer['kind']:<6}{shape:<12}{modes:<36}"
            f"{layer['params']:>9,}{layer['dense_params']:>10,}"
            f"{layer['compression']:>7.1f}x{layer['macs']:>11,}{layer['dense_macs']:>12,}"
            f"{layer['weight_bytes']:>11,}{layer['buffer_bytes']:>10,}"
        )
        for k, core in enumerate(layer["cores"]):
            lines.append(
                f"{'':<6}  core {k}: shape {tuple(core['shape'])}, {core['entries']:,} "
                f"entries, GEMM {core['gemm'][0]}x{core['gemm'][1]}x{core['gemm'][2]}, "
                f"{core['macs']:,} MACs, intermediate {core['intermediate']:,}"
            )
    t = info["total"]
    lines.append(
        f"total: {t['params']:,} trainable entries (dense {t['dense_params']:,}, "
        f"{t['compression']:.1f}x smaller), {t['macs']:,} MACs per batch "
        f"(dense {t['dense_macs']:,}), {t['weight_bytes']:,} bytes of weights"
    )
    fe = info.get("front_end")
    if fe:
        lines.append(
            f"front end (local.arch = {fe['arch']}, before layer 0, not in the rows "
            f"above): {fe['params']:,} trainable entries"
        )
        for st in fe["stages"]:
            shapes = ", ".join(f"{n.split('.')[-1]} {tuple(s)}" for n, s in st["shapes"].items())
            lines.append(f"{'':<6}  {st['name']}: {shapes}: {st['params']:,}")
        lines.append(f"network: {t['params'] + fe['params']:,} trainable entries in all")
    return "\n".join(lines)
