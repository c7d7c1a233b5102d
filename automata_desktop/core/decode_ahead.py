"""Maps decoded while they are still being stored, for the window that will show them.

A finished generation used to reach the viewport in two steps one after the other: every map
stored (written, fsynced, renamed, recorded), then every map read back and decoded. Decoding is
most of the time (a 2K map of fine detail is 10 MB of PNG) and needs nothing but the bytes, so
the engine's output store hands each map's bytes here the moment its last byte arrived; the
decode runs on a small pool, in arrival order (the first map first), while the bytes are being
made durable. Once a map is stored, its decode is remembered under the library path, and the
viewer building the finished generation's set takes the pixels from here (`filled`).

Nothing is shown from here that was not stored: a map whose store fails is never remembered.
Bounded: decodes nobody took are dropped oldest first (a 4K RGB map is 48 MB decoded).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from automata_desktop.core.texture_set import TextureSet, decode_image


class DecodeAhead:
    def __init__(self, workers: int | None = None, keep: int = 8) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 2),
                                        thread_name_prefix="decode-ahead")
        self._keep = keep
        self._by_path: OrderedDict[Path, Future[np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, data: bytes) -> Future[np.ndarray]:
        """Decode a map's bytes now; `remember` the result once the map is stored."""
        return self._pool.submit(decode_image, data)

    def remember(self, path: Path, decoding: Future[np.ndarray]) -> None:
        """`decoding` is the stored file at `path`'s pixels."""
        with self._lock:
            self._by_path[path] = decoding
            self._by_path.move_to_end(path)
            while len(self._by_path) > self._keep:
                _, dropped = self._by_path.popitem(last=False)
                dropped.cancel()

    def filled(self, textures: TextureSet) -> TextureSet:
        """`textures` with the pixels decoded ahead of each map that has them (waiting for those
        still decoding; blocking, so off the UI thread). The other maps are left to `loaded()`,
        and so is a map whose decode failed: its own decode then says what is wrong."""
        found = {}
        for texture in textures:
            if texture.is_loaded or texture.path is None:
                continue
            with self._lock:
                decoding = self._by_path.pop(texture.path, None)
            if decoding is None:
                continue
            try:
                found[texture.kind] = replace(texture, pixels=decoding.result())
            except (CancelledError, Exception):  # the viewer's own decode reports it
                continue
        return TextureSet({**textures.maps, **found}, textures.name) if found else textures

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._by_path.clear()
