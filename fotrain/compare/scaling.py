"""The word-length scaling rule of ``fotrain compare``, and the parsers of its bits and roundings.

Rule (:func:`scale_config`), for a word length ``b`` and rounding ``R``:

- ``weight`` and ``act`` become ``b`` bits wide and keep the preset's integer bits (sign
  included): ``frac = b - (width0 - frac0)``, clamped to ``frac >= 0`` (below the preset's
  integer bits the range shrinks instead and saturation shows it);
- ``acc`` gets ``frac = act.frac + weight.frac`` (products enter it unrounded) and the smallest
  width that holds every core's sum, ``max`` of ``FormatConfig.acc_bits_needed`` over all layers'
  contraction lengths (bias on the last core), i.e. exactly what config validation demands; a word
  length whose accumulator would exceed the golden model's 62-bit integers is refused;
- ``R`` (if given) replaces the rounding of all three formats; overflow modes are kept;
- ZO methods keep the perturbation's real size: ``zo.fixed_mu_lsb = max(1, round(mu_lsb0 *
  2**(weight.frac - weight.frac0)))`` (so short words perturb by 1 LSB, larger than in float);
- local-learning rules keep the gradient accumulator's integer bits: ``local.fixed_grad_width =
  clamp(width0 - 2 act.frac0 + 2 act.frac, 16, 48)``.

At the preset's own word length the scaled config computes the same numbers as the preset (only
the accumulator width may shrink to the minimum, and it never overflows in either). User
``--set`` overrides apply after scaling; an override of ``formats.weight``/``formats.act`` that
leaves ``formats.acc`` alone re-derives ``acc`` by the same rule. The float run of an entry is
the same config with ``train.numerics = "float"`` (formats unused).

User mistakes raise :class:`~fotrain.sw.errors.FotrainError` (one line): bits outside 2..32, an
unknown rounding, a word length whose accumulator the golden model cannot hold.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from typing import Any

__all__ = [
    "BITS_RANGE",
    "LOCAL_METHODS",
    "ZO_METHODS",
    "parse_bits",
    "parse_roundings",
    "scale_config",
    "split_sets",
    "user_error",
]

BITS_RANGE = (2, 32)
ZO_METHODS = ("zo", "hybrid")
LOCAL_METHODS = ("tpsgd", "drtp", "dfa", "sdfa", "shallow", "bp")


def user_error(msg: str):
    """A :class:`~fotrain.sw.errors.FotrainError` with message ``msg`` (to raise).

    The golden model is imported here, not at module level, so importing the package stays
    cheap for callers that only plan or read results.
    """
    from ..sw.errors import FotrainError

    return FotrainError(msg)


def parse_bits(text: str | Sequence[int]) -> tuple[int, ...]:
    """Parse word lengths.

    Parameters
    ----------
    text : str or sequence of int
        ``"4,6,8"`` or the integers themselves; every value must lie in 2..32.

    Returns
    -------
    tuple of int
        Sorted and unique, e.g. ``(4, 6, 8)``.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    out = set()
    for item in items:
        try:
            b = int(str(item).strip())
        except ValueError:
            raise user_error(
                f"--bits: expected comma-separated integers, got {str(item)!r}"
            ) from None
        if not BITS_RANGE[0] <= b <= BITS_RANGE[1]:
            raise user_error(f"--bits: {b} is outside {BITS_RANGE[0]}..{BITS_RANGE[1]}")
        out.add(b)
    if not out:
        raise user_error("--bits: give at least one word length")
    return tuple(sorted(out))


def parse_roundings(text: str | Sequence[str] | None) -> tuple[str | None, ...]:
    """Parse rounding modes.

    Parameters
    ----------
    text : str, sequence of str or None
        ``"TRN,RND"`` or the names themselves; ``None`` keeps the preset's rounding.

    Returns
    -------
    tuple of str or None
        Canonical names in the given order without repeats, e.g. ``("TRN", "RND")``; ``(None,)``
        for ``None``.
    """
    if text is None:
        return (None,)
    from ..sw.qformat import Rounding

    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in items:
        try:
            name = Rounding.from_string(item).name
        except Exception as e:  # FormatError: one line naming the choices
            raise user_error(f"--rounding: {e}") from None
        if name not in out:
            out.append(name)
    if not out:
        raise user_error("--rounding: give at least one mode")
    return tuple(out)


def _acc_for(cfg, weight, act, acc0):
    """``acc0`` resized: ``frac = act.frac + weight.frac``, the width validation demands."""
    from ..sw.config import FormatConfig
    from ..sw.qformat import MAX_BITS

    frac = act.frac + weight.frac
    probe = FormatConfig(weight=weight, act=act, acc=acc0.with_(width=MAX_BITS, frac=frac))
    need = 0
    for layer in cfg.layers:
        ks = layer.contraction_lengths
        for k, terms in enumerate(ks):
            need = max(need, probe.acc_bits_needed(terms, bias=layer.bias and k == len(ks) - 1))
    if need > MAX_BITS:
        raise user_error(
            f"compare: {cfg.name} with weight {weight} and act {act} needs a "
            f"{need}-bit accumulator; the golden model's integers stop at "
            f"{MAX_BITS} bits (use shorter word lengths)"
        )
    return acc0.with_(width=need, frac=frac)


def _apply_format_sets(cfg, sets: Sequence[str]):
    """Apply ``formats.*`` assignments; re-derive ``acc`` unless one of them touches it."""
    from ..sw.config import FormatConfig
    from ..sw.errors import ConfigError, FotrainError

    if not sets:
        return cfg
    d = cfg.formats.to_dict()
    touched_acc = False
    for text in sets:
        key, _, raw = text.partition("=")
        parts = key.strip().split(".")[1:]
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        if not parts or parts[0] not in d or len(parts) > 2:
            raise ConfigError(f"--set {key.strip()}: unknown key (formats.weight|act|acc[.field])")
        touched_acc |= parts[0] == "acc"
        if len(parts) == 1:
            d[parts[0]] = value
        else:
            if not isinstance(d[parts[0]], dict) or parts[1] not in d[parts[0]]:
                raise ConfigError(f"--set {key.strip()}: unknown key {parts[1]!r}")
            d[parts[0]][parts[1]] = value
    if not touched_acc:
        from ..sw.qformat import QFormat

        try:
            w, a = (
                v
                if isinstance(v, QFormat)
                else QFormat.from_string(v)
                if isinstance(v, str)
                else QFormat(**v)
                for v in (d["weight"], d["act"])
            )
        except (TypeError, FotrainError) as e:
            raise ConfigError(f"--set formats: {e}") from None
        d["acc"] = _acc_for(cfg, w, a, cfg.formats.acc).to_dict()
    return cfg.replace(formats=FormatConfig.from_dict(d))


def split_sets(sets: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``key=value`` overrides into the ``formats.*`` ones and the rest.

    Parameters
    ----------
    sets : sequence of str
        Overrides as given to ``--set``.

    Returns
    -------
    tuple of (list of str, list of str)
        ``(formats_overrides, other_overrides)``, each in the given order.
    """
    fmt = [s for s in sets if s.strip().startswith("formats")]
    return fmt, [s for s in sets if not s.strip().startswith("formats")]


def scale_config(cfg, bits: int, rounding: str | None = None, sets: Sequence[str] = ()):
    """``cfg`` as a fixed-point run at word length ``bits`` (the module docstring's rule).

    Parameters
    ----------
    cfg : fotrain.sw.config.Config
        The preset's config; its formats are the reference word length.
    bits : int
        Word length of weight and act, in 2..32.
    rounding : str or None
        Rounding of all three formats; ``None`` keeps the preset's.
    sets : sequence of str
        ``key=value`` overrides applied after scaling; ``formats.*`` ones re-derive ``acc``
        unless they set it.

    Returns
    -------
    fotrain.sw.config.Config
        The scaled config with ``train.numerics = "fixed"``.
    """
    from ..sw.config import FormatConfig

    bits = parse_bits([bits])[0]
    f0 = cfg.formats
    rnd = {} if rounding is None else {"rounding": rounding}

    def scaled(q):
        return q.with_(width=bits, frac=max(bits - q.integer, 0), **rnd)

    w, a = scaled(f0.weight), scaled(f0.act)
    acc = _acc_for(cfg, w, a, f0.acc.with_(**rnd))
    changes: dict[str, Any] = {"formats": FormatConfig(weight=w, act=a, acc=acc)}
    method = cfg.train.method
    if method in ZO_METHODS:
        shift = w.frac - f0.weight.frac
        mu = cfg.zo.fixed_mu_lsb
        lsb = mu << shift if shift >= 0 else (mu + (1 << (-shift - 1))) >> -shift
        changes["zo"] = cfg.zo.__class__(**{**cfg.zo.to_dict(), "fixed_mu_lsb": max(1, lsb)})
    if method in LOCAL_METHODS:
        gw = cfg.local.fixed_grad_width - 2 * f0.act.frac + 2 * a.frac
        changes["local"] = cfg.local.__class__(
            **{**cfg.local.to_dict(), "fixed_grad_width": min(max(gw, 16), 48)}
        )
    changes["train"] = cfg.train.__class__(**{**cfg.train.to_dict(), "numerics": "fixed"})
    out = cfg.replace(**changes)
    fmt_sets, other = split_sets(sets)
    out = _apply_format_sets(out, fmt_sets)
    return out.with_overrides(other) if other else out
