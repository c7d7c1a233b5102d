"""Give freed heap memory back to the system after a big load.

Decoding a 4K set makes several short-lived copies (the decoded image, the flipped copy VTK
uploads, the packed ORM). glibc serves blocks of that size from its heaps once a few have been
freed (its mmap threshold grows to 32 MB), and a heap is only returned to the system from its
top: without a trim the process keeps the peak of the load as resident memory for as long as it
runs. A worker thread's heap is worse: malloc_trim leaves its top alone, so each thread that
decoded a map kept ~48 MB (bench/viewport.py) until `map_large_blocks_apart` fixed the threshold.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from functools import cache

log = logging.getLogger(__name__)


@cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (malloc_trim is glibc's own), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018  (musl has no malloc_trim: nothing to tune)
        return libc
    except (OSError, AttributeError):
        return None


#: Blocks at least this big are mapped on their own, and unmapped (given back) when freed.
LARGE_BLOCK = 4 * 2**20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


@cache
def map_large_blocks_apart() -> None:
    """mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK) on glibc, once per process (a no-op elsewhere).

    Setting it turns off glibc's growing threshold, so decode buffers of any 4K map are mapped
    apart instead of landing in a thread's heap; the cost is a fresh mapping per big block.
    Call it before the first big load (the viewport does when its first view is made).
    """
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK)


def return_freed_memory() -> None:
    """malloc_trim(0) on glibc (every arena, not only the main heap); a no-op elsewhere."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
