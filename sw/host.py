"""Host-process settings for the integer engines (speed only: results never depend on them).

- :func:`single_thread_blas`: BLAS on one thread inside a block. The per-core GEMMs of the
  fixed-point TT forward are small (at most 16 x 16 by a few thousand columns); threaded
  OpenBLAS ran them about 2x slower than one thread.
- :func:`retain_heap`: glibc malloc keeps freed memory instead of returning it to the OS. The
  chunked integer forward allocates and frees arrays of ~2 MiB thousands of times per step;
  with glibc's defaults (arrays above 128 KiB mmap-ed, the heap top trimmed above 128 KiB) each
  one page-faults fresh zeroed memory, and a forward of the 16-bit HJB network took 50 ms
  instead of 21 ms (measured on one core). Sets ``M_MMAP_THRESHOLD`` to 64 MiB (32 MiB
  where glibc refuses more) and ``M_TRIM_THRESHOLD`` to 128 MiB through ``mallopt(3)``; a
  no-op where the C library is not glibc.
"""

import ctypes
import ctypes.util
import functools

from threadpoolctl import threadpool_limits

__all__ = ["retain_heap", "single_thread_blas"]

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
