"""Give freed heap memory back to the system after a big load.

Decoding a 4K set makes several short-lived copies (the decoded image, the flipped copy VTK keeps,
the packed ORM). glibc serves blocks of that size from its heaps once a few have been freed (its
mmap threshold grows to 32 MB), and a heap is only returned to the system from its top: without
a trim the process keeps the peak of the load as resident memory for as long as it runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from functools import cache

log = logging.getLogger(__name__)


@cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # musl, or no libc to load: nothing to trim
        return None


def return_freed_memory() -> None:
    """malloc_trim(0) on glibc (every arena, not only the main heap); a no-op elsewhere."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
