"""``[local]`` config section: local-learning rules (tpSGD, DRTP, DFA, sDFA, shallow, BP reference).

Owned by the local-learning work; see ``fotrain.sw.local`` for the rules. The rule is
``train.method`` (one source of truth); this section holds everything else.

Network = front end (``arch``) + the fully connected stack ``Config.layers``:

- ``arch = "none"`` (the default: no ``[local]`` network chosen) behaves as ``mlp`` for the local
  rules; the method registry sends ``train.method = "bp"`` to ``LocalMethod`` only when ``arch``
  is set (``mlp``, ``cnn``, ``rnn``), else to the network BP reference.
- ``arch = "mlp"``: no front end; ``layers[:-1]`` are hidden (each learns from its own local
  target), ``layers[-1]`` is the output layer (learns from the task loss ``train.loss``).
- ``arch = "cnn"``: ``len(conv_channels)`` blocks conv(k x k, stride 1, 'same' padding) ->
  ``activation`` -> ``pool`` x ``pool`` max-pool on ``image_size`` x ``image_size`` x
  ``in_channels`` images; ``layers[0].in_features`` must equal the flattened last feature map.
- ``arch = "rnn"``: the input read as ``rnn_steps`` rows of ``rnn_input`` values; one Elman
  layer ``h_t = act(Wx x_t + Wh h_{t-1} + b)`` per entry of ``rnn_hidden`` (stacked);
  ``layers`` read the top layer's last state (``rnn_readout = "last"``) or its mean over time
  (``"mean"``); with ``rnn_windows = W > 1`` the mean readout reads the mean state of each of W
  equal, consecutive time windows, concatenated in time order (``layers[0].in_features = W *
  rnn_hidden[-1]``): temporal pooling, the RNN analogue of the CNN's pooled feature map. The
  local target ``rnn_target = "mean"`` acts on the mean over the whole sequence; ``"windows"``
  acts on the readout's window means, with a separate code for every window (as the CNN's
  ``pooled`` target has one per pooled position).

Targets: hidden unit ``u`` of a layer with class ``c`` gets ``t = target_amp * S[u, c]`` where
``S`` is a fixed code matrix (``projection``: ``lfsr`` = Rademacher +-1 codes, ``lfsr_uniform`` =
256-level uniform codes on (-1, 1), both regenerated from LFSR seeds so nothing is stored;
``uniform`` = U(-1, 1) entries from a seeded numpy generator, stored).
DRTP, DFA and sDFA use the same ``S`` (scaled by ``target_amp``) as their feedback matrix.
"""

from dataclasses import dataclass
from typing import ClassVar

from .section import Section

__all__ = ["LOCAL_RULES", "LocalConfig"]

#: ``train.method`` values handled by :class:`~fotrain.sw.local.method.LocalMethod` (``bp`` too
#: when the config's ``[local]`` table sets ``arch``).
LOCAL_RULES = ("tpsgd", "drtp", "dfa", "sdfa", "shallow", "bp")


@dataclass(frozen=True)
class LocalConfig(Section):
    """Settings of the local (forward-only, label-projection) learning rules.

    Local losses (``y`` layer output, ``t`` target, per unit, batch mean, summed over units):
    ``mse`` ``1/2 (y - t)^2``; ``l1`` ``|y - t|``; ``smooth_l1`` Huber with ``smooth_l1_beta``;
    ``bce`` binary cross-entropy of ``q = (1 + y) / 2`` (tanh only) against
    ``p = sigmoid(t)``.
    """

    arch: str = "none"
    projection: str = "lfsr"
    target_amp: float = 3.0
    local_loss: str = "mse"
    smooth_l1_beta: float = 1.0
    schedule: str = "simultaneous"
    greedy_epochs: int = 1
    cosine_every: int = 50
    dtype: str = "float32"
    init_gain: float = 1.0
    activation: str = "tanh"
    # CNN front end
    image_size: int = 28
    in_channels: int = 1
    conv_channels: tuple[int, ...] = (32,)
    conv_kernel: int = 5
    pool: int = 2
    cnn_target: str = "dense"
    # RNN front end
    rnn_input: int = 28
    rnn_steps: int = 28
    rnn_hidden: tuple[int, ...] = (128,)
    rnn_target: str = "all"
    rnn_readout: str = "last"
    rnn_windows: int = 1
    # fixed point (``train.numerics = "fixed"``)
    fixed_update: str = "stochastic"
    fixed_lr_frac: int = 24
    fixed_grad_width: int = 32

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "arch": ("none", "mlp", "cnn", "rnn"),
        "projection": ("lfsr", "lfsr_uniform", "uniform"),
        "local_loss": ("mse", "l1", "smooth_l1", "bce"),
        "schedule": ("simultaneous", "greedy"),
        "dtype": ("float32", "float64"),
        "activation": ("tanh", "relu", "none"),
        "cnn_target": ("dense", "channel", "pooled"),
        "rnn_target": ("all", "last", "ramp", "mean", "windows"),
        "rnn_readout": ("last", "mean"),
        "fixed_update": ("nearest", "stochastic"),
    }

    def __post_init__(self) -> None:
        self.check()
        self.require(self.target_amp > 0, "target_amp", "must be > 0")
        self.require(self.smooth_l1_beta > 0, "smooth_l1_beta", "must be > 0")
        self.require(self.greedy_epochs >= 1, "greedy_epochs", "must be >= 1")
        self.require(self.cosine_every >= 0, "cosine_every", "must be >= 0 (0: off)")
        self.require(self.init_gain > 0, "init_gain", "must be > 0")
        self.require(self.image_size >= 1, "image_size", "must be >= 1")
        self.require(self.in_channels >= 1, "in_channels", "must be >= 1")
        self.require(
            len(self.conv_channels) >= 1 and min(self.conv_channels) >= 1,
            "conv_channels",
            "must be a non-empty list of integers >= 1",
        )
        self.require(
            self.conv_kernel >= 1 and self.conv_kernel % 2 == 1,
            "conv_kernel",
            "must be odd and >= 1 ('same' padding)",
        )
        self.require(self.pool >= 1, "pool", "must be >= 1")
        size = self.image_size
        for _ in self.conv_channels:
            size //= self.pool
        self.require(size >= 1, "pool", f"shrinks the {self.image_size}-pixel image to nothing")
        self.require(self.rnn_input >= 1, "rnn_input", "must be >= 1")
        self.require(self.rnn_steps >= 1, "rnn_steps", "must be >= 1")
        self.require(
            len(self.rnn_hidden) >= 1 and min(self.rnn_hidden) >= 1,
            "rnn_hidden",
            "must be a non-empty list of integers >= 1",
        )
        self.require(
            self.rnn_windows >= 1 and self.rnn_steps % self.rnn_windows == 0,
            "rnn_windows",
            f"must be >= 1 and divide rnn_steps ({self.rnn_steps})",
        )
        self.require(
            self.rnn_windows == 1 or self.rnn_readout == "mean",
            "rnn_windows",
            "> 1 needs rnn_readout = 'mean' (it windows the mean readout)",
        )
        self.require(
            self.local_loss != "bce" or self.activation == "tanh",
            "local_loss",
            "bce needs activation = 'tanh' (q = (1 + y) / 2)",
        )
        self.require(0 <= self.fixed_lr_frac <= 40, "fixed_lr_frac", "must be in 0..40")
        self.require(16 <= self.fixed_grad_width <= 48, "fixed_grad_width", "must be in 16..48")

    @property
    def feature_size(self) -> int:
        """Side of the last CNN feature map (``image_size`` divided by ``pool`` per block)."""
        size = self.image_size
        for _ in self.conv_channels:
            size //= self.pool
        return size
