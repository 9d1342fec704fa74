"""Amaranth-simulator stream helpers: send and drain ``lib.stream`` ports with idle/stall patterns.

Contract: ``idle`` / ``stall`` are ``None`` (never), a finite sequence of 0/1 repeated forever
(``(1, 1, 0)``), or any iterator of booleans; a true entry holds ``valid`` (send) or ``ready``
(drain) low for that cycle. Both helpers count clock ticks from their own start and return the
tick index of every transfer, so two helpers started at time 0 share one time base.
"""

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

__all__ = ["pattern", "stream_drain", "stream_send"]


def pattern(spec: Sequence[int] | Iterable[int] | None) -> Iterator[bool]:
    """Turn an idle/stall spec into an endless iterator of booleans."""
    if spec is None:
        return itertools.repeat(False)
    if isinstance(spec, (list, tuple)):
        if not spec:
            return itertools.repeat(False)
        return (bool(v) for v in itertools.cycle(spec))
    return (bool(v) for v in spec)


async def stream_send(ctx, port, payloads: Iterable[Any], *, idle=None) -> list[int]:
    """Send ``payloads`` (ints or dicts for struct layouts) on ``port``; return transfer ticks."""
    gaps = pattern(idle)
    ticks: list[int] = []
    now = 0
    for p in payloads:
        while next(gaps):
            ctx.set(port.valid, 0)
            await ctx.tick()
            now += 1
        ctx.set(port.payload, p)
        ctx.set(port.valid, 1)
        while True:
            *_, ready = await ctx.tick().sample(port.ready)
            now += 1
            if ready:
                break
        ticks.append(now - 1)
    ctx.set(port.valid, 0)
    return ticks


async def stream_drain(ctx, port, count: int, *, stall=None) -> tuple[list[Any], list[int]]:
    """Receive ``count`` payloads from ``port``; return ``(payloads, transfer ticks)``."""
    holds = pattern(stall)
    got: list[Any] = []
    ticks: list[int] = []
    now = 0
    while len(got) < count:
        ctx.set(port.ready, not next(holds))
        *_, payload, valid, ready = await ctx.tick().sample(port.payload, port.valid, port.ready)
        now += 1
        if valid and ready:
            got.append(payload)
            ticks.append(now - 1)
    ctx.set(port.ready, 0)
    return got, ticks
