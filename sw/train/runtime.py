"""Host-process settings for the integer engines (speed only: results never depend on them).

- :func:`single_thread_blas`: BLAS on one thread inside a block. The per-core GEMMs of the
  fixed-point TT forward are small (at most 16 x 16 by a few thousand columns), too small for
  threads to pay for their synchronisation.
- :func:`retain_heap`: glibc malloc keeps freed memory instead of returning it to the OS. The
  chunked integer forward allocates and frees arrays of ~2 MiB thousands of times per step;
  with glibc's defaults (arrays above 128 KiB mmap-ed, the heap top trimmed above 128 KiB) each
  one page-faults fresh zeroed memory, which dominates the step (docs/RESULTS.md, software
  speed). Sets ``M_MMAP_THRESHOLD`` to 64 MiB (32 MiB
  where glibc refuses more) and ``M_TRIM_THRESHOLD`` to 128 MiB through ``mallopt(3)``; a
  no-op where the C library is not glibc.
- :func:`usable_cpus`: how many processes a step can keep busy: the affinity mask, capped by a
  cgroup CPU quota (containers and CI runners often see every host core in the mask but may
  only use a share of them: cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` /
  ``cpu.cfs_period_us``; a quota of 1.5 CPUs gives 2).
"""

import ctypes
import ctypes.util
import functools
import math
import os
from pathlib import Path

from threadpoolctl import threadpool_limits

__all__ = ["cap_cpus", "cgroup_cpu_quota", "retain_heap", "single_thread_blas", "usable_cpus"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers


def single_thread_blas():
    """Context manager: BLAS limited to one thread inside."""
    return threadpool_limits(limits=1, user_api="blas")


@functools.cache
def retain_heap() -> bool:
    """Ask glibc malloc to keep freed memory in this process (once); ``True`` if it applied."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt, Windows)
        return False
    if not any(mallopt(_M_MMAP_THRESHOLD, mib << 20) == 1 for mib in (64, 32)):  # some glibc
        return False  # versions refuse > 32 MiB; if both fail leave the adaptive defaults alone
    return mallopt(_M_TRIM_THRESHOLD, 128 << 20) == 1


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _cpus(quota: str | None, period: str | None) -> float | None:
    """``quota / period`` in CPUs; ``None`` for no limit (``max``, ``-1``, missing, malformed)."""
    try:
        q, p = int(quota or ""), int(period or "")
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def _limit_at(node: Path, v2: bool) -> float | None:
    if v2:
        text = (_read(node / "cpu.max") or "").split()
        return _cpus(*(text + [None, None])[:2])
    return _cpus(_read(node / "cpu.cfs_quota_us"), _read(node / "cpu.cfs_period_us"))


def cgroup_cpu_quota(
    root: Path = Path("/sys/fs/cgroup"), proc_cgroup: Path = Path("/proc/self/cgroup")
) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (e.g. 1.5); ``None`` if none is set.

    Finds the process's cgroup in ``proc_cgroup`` and takes the smallest quota from it up to the
    hierarchy's root (a parent's limit binds its children): cgroup v2 ``cpu.max`` (``"QUOTA
    PERIOD"`` or ``"max PERIOD"``), v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` under the
    ``cpu`` controller's mount. Missing or unreadable files count as no limit."""
    limits = []
    for line in (_read(proc_cgroup) or "").splitlines():
        hier, _, rest = line.partition(":")
        controllers, _, rel = rest.partition(":")
        v2 = hier == "0" and not controllers
        if not v2 and "cpu" not in controllers.split(","):
            continue
        base = (
            root
            if v2
            else next((root / n for n in (controllers, "cpu") if (root / n).is_dir()), root / "cpu")
        )
        node = base.joinpath(*Path(rel).parts[1:]) if rel.startswith("/") else base
        for level in [node, *node.parents]:
            if level != base and base not in level.parents:
                break  # never read above the hierarchy's root
            limits.append(_limit_at(level, v2))
    found = [x for x in limits if x is not None]
    return min(found) if found else None


def usable_cpus() -> int:
    """CPUs this process can keep busy: the affinity mask (the CPU count where there is none),
    capped at the cgroup CPU quota rounded up."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cap_cpus(cpus or 1, cgroup_cpu_quota())


def cap_cpus(cpus: int, quota: float | None) -> int:
    """``min(cpus, ceil(quota))``, at least 1; ``cpus`` when there is no quota."""
    return cpus if quota is None else max(1, min(cpus, math.ceil(quota)))
