"""Local persistence: generations in SQLite, their files in folders beside it.

The app opens `Library(paths.data_dir() / "library")`; the job engine records a generation before
work starts and stores each output as it arrives, through `AsyncLibrary` on the event loop; the UI
lists, searches and exports from its thread pool. Every SQLite statement runs on the library's one
database thread either way.
"""

from automata_desktop.library.async_library import AsyncLibrary
from automata_desktop.library.export import PRESETS
from automata_desktop.library.files import (
    IntegrityError,
    Written,
    atomic_write_stream,
    atomic_write_stream_async,
    safe_filename,
)
from automata_desktop.library.store import Library

__all__ = [
    "PRESETS",
    "AsyncLibrary",
    "IntegrityError",
    "Library",
    "Written",
    "atomic_write_stream",
    "atomic_write_stream_async",
    "safe_filename",
]
