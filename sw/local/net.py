"""The networks the local rules train (float): hidden stages with local targets, an output layer,
the task loss, and backprop (BP, with BPTT for recurrent stages) as the reference.

A network is a list of hidden *stages* followed by the output layer ``cfg.layers[-1]``:

- front end (``local.arch``): ``cnn`` conv blocks or ``rnn`` Elman layers (none for ``mlp``);
- then every layer of ``cfg.layers[:-1]`` (dense or TT-matrix, ``activation`` as configured).

Each stage exposes its *target point* (the array its local loss reads: a layer output, a
pre-pooling or pooled feature map, or a sequence of recurrent states) and the per-sample shape
of its target codes (``code_shape``, broadcast against the target point). Given ``e = dL/dy``
at the target point, ``local_grads`` returns the stage's own parameter gradients, with the
stage input treated as a constant (detached): nothing travels to earlier stages.

Task loss on the output ``z`` (``(B, C)``) and labels ``y``: ``ce`` ``-(1/B) sum log
softmax(z)[y]`` with ``dL/dz = (softmax(z) - onehot(y)) / B``; ``mse`` ``(1/2B) sum (z -
onehot(y))^2`` with ``dL/dz = (z - onehot(y)) / B``. Every gradient is a batch mean, summed over
positions (CNN) and time steps (RNN).
"""

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError
from ..tt import tt_forward, tt_init, tt_to_dense
from .layers import (
    act,
    act_grad,
    conv_forward,
    conv_input_grad,
    pool_backward,
    pool_forward,
    tt_core_grads,
)

__all__ = ["ConvStage", "FCStage", "LocalNet", "RNNStage", "task_loss"]

Array = npt.NDArray[np.floating]
Params = dict[str, Array]


def window_means(h: Array, w: int) -> Array:
    """``(B, T, H)`` states -> ``(B, W, H)``: the mean of each of ``w`` equal time windows."""
    b, t, n = h.shape
    return h.reshape(b, w, t // w, n).mean(axis=2)


def window_means_grad(d: Array, steps: int) -> Array:
    """Gradient of :func:`window_means`: ``(B, W, H)`` -> ``(B, T, H)``, each step of window
    ``w`` gets ``d_w W / T``."""
    b, w, n = d.shape
    return np.broadcast_to((d / (steps // w))[:, :, None, :], (b, w, steps // w, n)).reshape(
        b, steps, n
    )


def task_loss(z: Array, y: npt.NDArray[np.int64], kind: str) -> tuple[float, Array]:
    """``(loss, dL/dz)`` of the output layer (see the module docstring)."""
    b, c = z.shape
    onehot = np.zeros_like(z)
    onehot[np.arange(b), y] = 1
    if kind == "mse":
        d = z - onehot
        return float(0.5 * np.sum(d * d) / b), d / b
    zs = z - z.max(axis=1, keepdims=True)
    ez = np.exp(zs)
    s = ez.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(s[:, 0]) - zs[np.arange(b), y]))
    return loss, (ez / s - onehot) / b


class FCStage:
    """Fully connected layer ``y = act(x @ W.T + b)`` (dense ``W`` or TT-matrix cores)."""

    def __init__(self, name: str, layer: Any):
        self.name, self.layer = name, layer
        self.activation = layer.activation
        self.tt = layer.kind == "tt"
        ncores = len(layer.in_modes) if self.tt else 0
        self.wnames = [f"{name}.g{k}" for k in range(ncores)] if self.tt else [f"{name}.w"]
        self.names = self.wnames + ([f"{name}.b"] if layer.bias else [])
        self.code_shape: tuple[int, ...] = (layer.out_features,)

    def init(self, rng: np.random.Generator, gain: float, dtype: Any) -> Params:
        """Weights ``N(0, gain / fan_in)`` (TT: cores whose product has that variance)."""
        lay = self.layer
        if self.tt:
            cores = tt_init(lay.in_modes, lay.out_modes, lay.ranks, rng=rng, gain=gain)
            p = {n: c.astype(dtype) for n, c in zip(self.wnames, cores, strict=True)}
        else:
            p = {
                self.wnames[0]: rng.normal(
                    0, math.sqrt(gain / lay.in_features), (lay.out_features, lay.in_features)
                ).astype(dtype)
            }
        if lay.bias:
            p[f"{self.name}.b"] = np.zeros(lay.out_features, dtype)
        return p

    def _bias(self, p: Params) -> Array | None:
        return p.get(f"{self.name}.b")

    def weight(self, p: Params) -> Array:
        """The dense ``(out, in)`` weight (reconstructed for TT layers)."""
        if self.tt:
            return tt_to_dense([p[n] for n in self.wnames]).astype(p[self.wnames[0]].dtype)
        return p[self.wnames[0]]

    def forward(self, p: Params, h: Array) -> tuple[Array, tuple[Array, Array]]:
        """``(y, cache)``; the input is flattened to ``(B, in)``."""
        x = h.reshape(h.shape[0], -1)
        b = self._bias(p)
        if self.tt:
            z = tt_forward([p[n] for n in self.wnames], x, b).astype(x.dtype)
        else:
            z = x @ p[self.wnames[0]].T
            if b is not None:
                z += b
        y = act(self.activation, z)
        return y, (x, y)

    @staticmethod
    def target(cache: tuple[Array, ...]) -> Array:
        """Target point: the layer output."""
        return cache[1]

    @staticmethod
    def cache_arrays(cache: tuple[Array, ...]) -> list[Array]:
        """Arrays held in ``cache``."""
        return list(cache)

    def _grads(self, p: Params, x: Array, delta: Array) -> Params:
        gw = delta.T @ x
        if self.tt:
            cores = [p[n] for n in self.wnames]
            g = {
                n: gc.astype(x.dtype)
                for n, gc in zip(self.wnames, tt_core_grads(cores, gw), strict=True)
            }
        else:
            g = {self.wnames[0]: gw}
        if self.layer.bias:
            g[f"{self.name}.b"] = delta.sum(axis=0)
        return g

    def local_grads(self, p: Params, cache: tuple[Array, ...], e: Array) -> Params:
        """Parameter gradients from ``e = dL/dy`` (``delta = e * f'(z)``; ``gW = delta^T x``)."""
        x, y = cache
        return self._grads(p, x, e * act_grad(self.activation, y))

    def backward(
        self, p: Params, cache: tuple[Array, ...], dout: Array, need_dx: bool
    ) -> tuple[Params, Array | None]:
        """BP through the layer: ``(grads, dL/dx)``."""
        x, y = cache
        delta = dout * act_grad(self.activation, y)
        return self._grads(p, x, delta), (delta @ self.weight(p) if need_dx else None)


class ConvStage:
    """Conv block: 'same' ``k x k`` convolution -> activation -> ``pool x pool`` max-pool.

    Target mappings (``local.cnn_target``): ``dense`` one code per (position, channel) of the
    activation map before pooling; ``channel`` one code per channel, broadcast over positions;
    ``pooled`` one code per (position, channel) of the pooled map.
    """

    def __init__(self, name: str, cin: int, cout: int, size: int, lc: Any):
        self.name, self.cin, self.cout, self.size = name, cin, cout, size
        self.k, self.pool, self.activation, self.mode = (
            lc.conv_kernel,
            lc.pool,
            lc.activation,
            lc.cnn_target,
        )
        self.names = [f"{name}.w", f"{name}.b"]
        so = size // lc.pool
        self.code_shape = {
            "dense": (size, size, cout),
            "channel": (1, 1, cout),
            "pooled": (so, so, cout),
        }[self.mode]

    def init(self, rng: np.random.Generator, gain: float, dtype: Any) -> Params:
        """Weights ``N(0, gain / (C_in k^2))``, zero bias."""
        fan = self.cin * self.k * self.k
        return {
            f"{self.name}.w": rng.normal(0, math.sqrt(gain / fan), (self.cout, fan)).astype(dtype),
            f"{self.name}.b": np.zeros(self.cout, dtype),
        }

    def forward(self, p: Params, x: Array) -> tuple[Array, tuple[Any, ...]]:
        """``(pooled, cache)`` for NHWC ``x``."""
        z, cols = conv_forward(x, p[f"{self.name}.w"], p[f"{self.name}.b"], self.k)
        y = act(self.activation, z)
        pooled, idx = pool_forward(y, self.pool)
        return pooled, (x.shape, cols, y, idx, pooled)

    def target(self, cache: tuple[Any, ...]) -> Array:
        """Target point: the activation map (``dense``, ``channel``) or the pooled map."""
        return cache[4] if self.mode == "pooled" else cache[2]

    @staticmethod
    def cache_arrays(cache: tuple[Any, ...]) -> list[Array]:
        """Arrays held in ``cache``."""
        return list(cache[1:])

    def _grads(self, cache: tuple[Any, ...], dy: Array) -> tuple[Params, Array]:
        _, cols, y, _, _ = cache
        delta = dy * act_grad(self.activation, y)
        d2 = delta.reshape(-1, self.cout)
        return {f"{self.name}.w": d2.T @ cols, f"{self.name}.b": d2.sum(axis=0)}, delta

    def local_grads(self, p: Params, cache: tuple[Any, ...], e: Array) -> Params:
        """Gradients from ``e`` at the target point (routed through the pool if ``pooled``)."""
        if self.mode == "pooled":
            e = pool_backward(e, cache[3], cache[2].shape, self.pool)
        return self._grads(cache, e)[0]

    def backward(
        self, p: Params, cache: tuple[Any, ...], dout: Array, need_dx: bool
    ) -> tuple[Params, Array | None]:
        """BP through pool, activation and convolution."""
        dy = pool_backward(dout, cache[3], cache[2].shape, self.pool)
        g, delta = self._grads(cache, dy)
        dx = conv_input_grad(delta, p[f"{self.name}.w"], cache[0], self.k) if need_dx else None
        return g, dx


class RNNStage:
    """Elman layer over a sequence ``x`` ``(B, T, n_in)``: ``s_t = act(x_t Wx^T + s_{t-1} Wh^T
    + b)``, ``s_{-1} = 0``; output the states ``(B, T, H)``.

    Local rule: the target acts on every state (``rnn_target = "all"``), on every state scaled by
    ``(t + 1) / T`` (``"ramp"``: commit to the class code as the evidence arrives), on the last
    one, on the mean state over time (``"mean"``: the RNN analogue of the CNN's pooled mapping;
    single steps stay free as long as the average carries the code), or on the mean state of
    each of ``rnn_windows`` equal time windows with one code per window (``"windows"``), with
    ``s_{t-1}`` detached (no backprop through time): ``gWx = sum_t delta_t^T x_t``, ``gWh = sum_t
    delta_t^T s_{t-1}``. :meth:`backward` is full BPTT (the BP reference).
    """

    def __init__(self, name: str, nin: int, nh: int, lc: Any):
        self.name, self.nin, self.nh = name, nin, nh
        self.activation, self.steps = lc.activation, lc.rnn_target
        self.names = [f"{name}.wx", f"{name}.wh", f"{name}.b"]
        self.windows = lc.rnn_windows if self.steps == "windows" else 1
        self.code_shape = (self.windows, nh)

    def init(self, rng: np.random.Generator, gain: float, dtype: Any) -> Params:
        """``Wx``, ``Wh`` ``N(0, gain / (n_in + H))``, zero bias."""
        s = math.sqrt(gain / (self.nin + self.nh))
        return {
            f"{self.name}.wx": rng.normal(0, s, (self.nh, self.nin)).astype(dtype),
            f"{self.name}.wh": rng.normal(0, s, (self.nh, self.nh)).astype(dtype),
            f"{self.name}.b": np.zeros(self.nh, dtype),
        }

    def forward(self, p: Params, x: Array) -> tuple[Array, tuple[Array, Array]]:
        """``(states, cache)``."""
        b, t, _ = x.shape
        wh = p[f"{self.name}.wh"]
        zx = (x.reshape(b * t, self.nin) @ p[f"{self.name}.wx"].T).reshape(b, t, self.nh)
        zx += p[f"{self.name}.b"]
        out = np.empty((b, t, self.nh), x.dtype)
        s = np.zeros((b, self.nh), x.dtype)
        for k in range(t):
            s = act(self.activation, zx[:, k] + s @ wh.T)
            out[:, k] = s
        return out, (x, out)

    def target(self, cache: tuple[Array, Array]) -> Array:
        """Target point: all states, the last one or the window means (``(B, W, H)``)."""
        if self.steps in ("mean", "windows"):
            return window_means(cache[1], self.windows)
        return cache[1][:, -1:] if self.steps == "last" else cache[1]

    @staticmethod
    def cache_arrays(cache: tuple[Array, ...]) -> list[Array]:
        """Arrays held in ``cache``."""
        return list(cache)

    def _grads(self, x: Array, out: Array, delta: Array) -> Params:
        b, t, _ = x.shape
        prev = np.concatenate([np.zeros_like(out[:, :1]), out[:, :-1]], axis=1)
        d2 = delta.reshape(b * t, self.nh)
        return {
            f"{self.name}.wx": d2.T @ x.reshape(b * t, self.nin),
            f"{self.name}.wh": d2.T @ prev.reshape(b * t, self.nh),
            f"{self.name}.b": d2.sum(axis=0),
        }

    def local_grads(self, p: Params, cache: tuple[Array, Array], e: Array) -> Params:
        """Gradients from ``e`` at the target point, previous state detached."""
        x, out = cache
        if self.steps == "last":
            full = np.zeros_like(out)
            full[:, -1:] = e
            e = full
        elif self.steps in ("mean", "windows"):
            e = window_means_grad(e, out.shape[1])
        return self._grads(x, out, e * act_grad(self.activation, out))

    def backward(
        self, p: Params, cache: tuple[Array, Array], dout: Array, need_dx: bool
    ) -> tuple[Params, Array | None]:
        """BPTT: ``dL/ds_t = dout_t + delta_{t+1} Wh``."""
        x, out = cache
        wh = p[f"{self.name}.wh"]
        fp = act_grad(self.activation, out)
        delta = np.empty_like(out)
        carry = np.zeros_like(out[:, 0])
        for k in range(out.shape[1] - 1, -1, -1):
            d = (dout[:, k] + carry) * fp[:, k]
            delta[:, k] = d
            carry = d @ wh
        g = self._grads(x, out, delta)
        dx = (delta @ p[f"{self.name}.wx"]) if need_dx else None
        return g, dx


class LocalNet:
    """Stages + output layer of ``cfg`` (see the module docstring); parameters live outside."""

    def __init__(self, cfg: Any):
        lc, layers = cfg.local, cfg.layers
        self.arch = lc.arch
        self.lc = lc
        self.stages: list[Any] = []
        n_in = cfg.layers[0].in_features
        if lc.arch == "cnn":
            size, cin = lc.image_size, lc.in_channels
            for i, cout in enumerate(lc.conv_channels):
                self.stages.append(ConvStage(f"conv{i}", cin, cout, size, lc))
                size, cin = size // lc.pool, cout
            flat = size * size * cin
            if n_in != flat:
                raise ConfigError(
                    f"layers[0].in_features: {n_in} != {flat}, the flattened CNN "
                    f"feature map ({size} x {size} x {cin})"
                )
        elif lc.arch == "rnn":
            nin = lc.rnn_input
            for i, nh in enumerate(lc.rnn_hidden):
                self.stages.append(RNNStage(f"rnn{i}", nin, nh, lc))
                nin = nh
            if n_in != lc.rnn_windows * nin:
                what = (
                    f"local.rnn_windows {lc.rnn_windows} x local.rnn_hidden[-1] {nin}"
                    if lc.rnn_windows > 1
                    else f"local.rnn_hidden[-1] {nin}"
                )
                raise ConfigError(f"layers[0].in_features: {n_in} != {what}")
        self.front = len(self.stages)
        for i, layer in enumerate(layers[:-1]):
            if layer.activation not in ("tanh", "relu", "none"):
                raise ConfigError(
                    f"layers[{i}].activation: {layer.activation!r} is not "
                    "supported by local rules (tanh, relu, none)"
                )
            self.stages.append(FCStage(f"fc{i}", layer))
        if layers[-1].activation != "none":
            raise ConfigError(
                f"layers[{len(layers) - 1}].activation: the output layer must be "
                f"'none' (the task loss applies softmax), got "
                f"{layers[-1].activation!r}"
            )
        self.out = FCStage(f"fc{len(layers) - 1}", layers[-1])
        self.in_features = {
            "cnn": lc.image_size**2 * lc.in_channels,
            "rnn": lc.rnn_steps * lc.rnn_input,
        }.get(lc.arch, n_in)

    @property
    def all_stages(self) -> list[Any]:
        """Hidden stages then the output layer."""
        return [*self.stages, self.out]

    def init(self, seed: int, dtype: Any) -> Params:
        """Parameters from ``seed`` (one generator, stages in order)."""
        rng = np.random.default_rng([int(seed), 0x1A17])
        p: Params = {}
        for st in self.all_stages:
            p.update(st.init(rng, self.lc.init_gain, dtype))
        return p

    def enter(self, i: int, h: Array) -> Array:
        """Reshape ``h`` for stage ``i`` (``len(stages)``: the output layer)."""
        if i == 0 and self.arch == "cnn":
            s, c = self.lc.image_size, self.lc.in_channels
            return h.reshape(h.shape[0], s, s, c)
        if i == 0 and self.arch == "rnn":
            return h.reshape(h.shape[0], self.lc.rnn_steps, self.lc.rnn_input)
        if i == self.front and self.arch == "rnn":
            if self.lc.rnn_readout == "last":
                return h[:, -1]
            return window_means(h, self.lc.rnn_windows).reshape(h.shape[0], -1)  # time order
        return h

    def enter_back(self, i: int, dh: Array, shape: tuple[int, ...]) -> Array:
        """Inverse of :meth:`enter` for gradients (``shape``: the stage's output before it)."""
        if i == self.front and self.arch == "rnn":
            if self.lc.rnn_readout == "mean":
                w = self.lc.rnn_windows
                return window_means_grad(dh.reshape(shape[0], w, shape[2]), shape[1])
            full = np.zeros(shape, dh.dtype)
            full[:, -1] = dh
            return full
        return dh.reshape(shape)

    def forward(self, p: Params, x: Array) -> Array:
        """Output scores ``(B, C)``."""
        h = x
        for i, st in enumerate(self.all_stages):
            h, _ = st.forward(p, self.enter(i, h))
        return h

    def bp(
        self, p: Params, x: Array, y: npt.NDArray[np.int64], loss_kind: str, mem: Any = None
    ) -> tuple[float, Array, Params]:
        """Backprop: ``(loss, scores, grads)`` of the task loss for every parameter."""
        caches, shapes = [], []
        h = x
        for i, st in enumerate(self.all_stages):
            h = self.enter(i, h)
            h, cache = st.forward(p, h)
            caches.append(cache)
            shapes.append(h.shape)
            if mem is not None:
                mem.hold("activations", st.cache_arrays(cache))
        loss, dz = task_loss(h, y, loss_kind)
        grads: Params = {}
        d = dz
        stages = self.all_stages
        for i in range(len(stages) - 1, -1, -1):
            if i < len(stages) - 1:
                d = self.enter_back(i + 1, d, shapes[i])
            g, d = stages[i].backward(p, caches[i], d, need_dx=i > 0)
            grads.update(g)
            if mem is not None:
                mem.hold("gradients", list(g.values()))
        return loss, h, grads
