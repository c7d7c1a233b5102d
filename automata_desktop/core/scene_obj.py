"""OBJ + MTL (placeholder: trimesh until the own reader lands)."""

from __future__ import annotations

from pathlib import Path

from automata_desktop.core.scene import Scene
from automata_desktop.core.scene_trimesh import read_with_trimesh


def read_obj(path: Path, data: bytes) -> Scene:
    return read_with_trimesh(path, data)
