"""Keep freed memory for reuse: numpy temporaries without page-fault churn.

Each strip of the pipeline makes and frees many temporaries of a few MB. glibc's malloc serves
blocks that large with fresh ``mmap`` calls and returns them with ``munmap``, so every
temporary costs page faults and zeroing by the kernel (measured: more system time than the
arithmetic itself). Raising glibc's mmap and trim thresholds (``mallopt``, the same knobs as the
``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` environment variables) makes malloc
reuse freed heap blocks instead. Peak memory is unchanged: the blocks are the same, they are
only kept between strips. Without glibc (or ``ctypes``) this does nothing.

References
----------
glibc manual, "Malloc Tunable Parameters"; mallopt(3).
"""

from __future__ import annotations

import ctypes
import functools

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: glibc's largest allowed mmap threshold on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX).
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 128 * 1024 * 1024


def _libc() -> ctypes.CDLL:
    """The C library's symbols as the process already has them (``dlopen(NULL)``): no search
    for the library file (``ctypes.util.find_library`` runs ``ldconfig``)."""
    return ctypes.CDLL(None)


@functools.cache
def reuse_freed_memory() -> bool:
    """Set the thresholds once per process; True if glibc accepted them."""
    try:
        mallopt = _libc().mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    return mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and ok


def release_free_memory() -> None:
    """Give memory malloc kept for reuse back to the system (``malloc_trim``), e.g. once the
    pipeline is done and the next step (JPEG encoding) would otherwise add to its high water."""
    try:
        _libc().malloc_trim(0)
    except (OSError, AttributeError):
        return
