"""The library's public surface, pinned so a rename is a deliberate act."""

from __future__ import annotations

import automata_desktop.library as library


def test_the_public_names_are_the_documented_ones() -> None:
    assert sorted(library.__all__) == [
        "AsyncLibrary", "IntegrityError", "Library", "PRESETS", "Written", "atomic_write_stream",
        "atomic_write_stream_async", "safe_filename",
    ]
    assert all(hasattr(library, name) for name in library.__all__)


def test_integrity_errors_are_library_errors() -> None:
    from automata_desktop.errors import LibraryError

    assert issubclass(library.IntegrityError, LibraryError)
