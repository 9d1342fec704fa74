"""Reusable cocotb bench parts: stream source/sink bound to ``<port>__payload/valid/ready``,
a transfer monitor and an in-order checker; the model they check against is a thin adapter
over ``fotrain.sw`` that never re-derives arithmetic.

Contract: the parts are *cycle-driven*. A bench calls, once per clock at the falling edge,
``drive()`` on every source and sink (which sets ``valid``/``payload`` or ``ready`` for the next
rising edge and returns what it drove), samples the DUT's outputs, then ``commit(...)`` with the
sampled handshake to account for transfers. Sources hold ``valid`` and ``payload`` until the
transfer (stream rules); ``idle``/``stall`` are repeating 0/1 patterns (1 = hold low this cycle).
"""

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cocotb.types import Logic

__all__ = ["InOrderChecker", "StreamMonitor", "StreamSink", "StreamSource", "read_uint"]


def read_uint(handle) -> int:
    """Current value of a DUT signal as an unsigned int (1-bit and vector signals alike)."""
    v = handle.value
    if isinstance(v, Logic):
        return int(v)
    return v.to_unsigned()


def _pattern(spec: Sequence[int] | None):
    if not spec:
        return itertools.repeat(False)
    return (bool(v) for v in itertools.cycle(spec))


class StreamSource:
    """Drive ``<name>__valid`` / ``<name>__payload`` from a queue of ints."""

    def __init__(
        self,
        dut,
        name: str,
        *,
        idle: Sequence[int] | None = None,
        encode: Callable[[Any], int] = int,
    ):
        self.valid = getattr(dut, f"{name}__valid")
        self.payload = getattr(dut, f"{name}__payload")
        self.ready = getattr(dut, f"{name}__ready")
        self.encode = encode
        self.queue: deque[Any] = deque()
        self._gaps = _pattern(idle)
        self._presenting = False
        self.sent = 0
        self.valid.value = 0

    def send(self, items: Iterable[Any]) -> None:
        """Queue items for transmission."""
        self.queue.extend(items)

    def drive(self) -> int:
        """Set ``valid``/``payload`` for the coming edge; return ``valid``."""
        if not self._presenting and self.queue:
            self._presenting = not next(self._gaps)
            if self._presenting:
                self.payload.value = self.encode(self.queue[0])
        self.valid.value = int(self._presenting)
        return int(self._presenting)

    def head(self) -> Any:
        """The item being presented (or None)."""
        return self.queue[0] if self._presenting else None

    def commit(self, ready: int) -> Any:
        """Account for the edge given the sampled ``ready``; return the item sent or None."""
        if self._presenting and ready:
            self._presenting = False
            self.sent += 1
            return self.queue.popleft()
        return None

    @property
    def idle(self) -> bool:
        """Nothing left to send."""
        return not self.queue


class StreamSink:
    """Drive ``<name>__ready`` by a stall pattern; decode payloads on transfer."""

    def __init__(
        self,
        dut,
        name: str,
        *,
        stall: Sequence[int] | None = None,
        decode: Callable[[int], Any] = int,
    ):
        self.valid = getattr(dut, f"{name}__valid")
        self.payload = getattr(dut, f"{name}__payload")
        self.ready = getattr(dut, f"{name}__ready")
        self.decode = decode
        self._holds = _pattern(stall)
        self._ready = 0
        self.ready.value = 0

    def drive(self) -> int:
        """Set ``ready`` for the coming edge; return it."""
        self._ready = int(not next(self._holds))
        self.ready.value = self._ready
        return self._ready

    def commit(self, valid: int) -> Any:
        """Return the decoded payload if a transfer happens at this edge, else None."""
        if valid and self._ready:
            return self.decode(read_uint(self.payload))
        return None


class StreamMonitor:
    """Record ``(cycle, item)`` for every transfer reported to it."""

    def __init__(self, name: str):
        self.name = name
        self.transfers: list[tuple[int, Any]] = []

    def record(self, cycle: int, item: Any) -> None:
        """Log one transfer."""
        self.transfers.append((cycle, item))

    @property
    def count(self) -> int:
        """Transfers seen."""
        return len(self.transfers)


class InOrderChecker:
    """Compare received items with expected ones, in order; count ``errors`` and ``pending``."""

    def __init__(self, name: str, log=None, max_reports: int = 10):
        self.name = name
        self.expected: deque[Any] = deque()
        self.errors = 0
        self.checked = 0
        self.log = log
        self.max_reports = max_reports
        self.reports: list[str] = []

    def expect(self, items: Iterable[Any]) -> None:
        """Queue expected items."""
        self.expected.extend(items)

    def check(self, got: Any, where: str = "") -> bool:
        """Compare one received item with the next expected one."""
        self.checked += 1
        if not self.expected:
            self._report(f"{self.name}: unexpected item {got!r} {where}")
            return False
        want = self.expected.popleft()
        if got != want:
            self._report(
                f"{self.name}: item {self.checked - 1} {where}: got {got!r}, expected {want!r}"
            )
            return False
        return True

    def _report(self, msg: str) -> None:
        self.errors += 1
        if len(self.reports) < self.max_reports:
            self.reports.append(msg)
            if self.log is not None:
                self.log.error(msg)

    @property
    def pending(self) -> int:
        """Expected items not received."""
        return len(self.expected)
