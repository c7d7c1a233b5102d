"""One way in for mesh files: `load_scene(path)` → Scene, or a MeshError that says why and what to do.

Before any reader runs, the bytes are checked for what users actually download by mistake: an empty
file, a Git LFS pointer (a clone without `git lfs pull`), an HTML page saved under a mesh's name (a
"download" link that served a web page). Then the reader for the suffix: glTF/GLB (scene_gltf),
OBJ+MTL (scene_obj), PLY/STL/OFF (scene_trimesh). Whatever a reader trips over becomes a MeshError:
the caller keeps the scene it had and shows the message, never a traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path

from automata_desktop.core.scene import MeshError, Scene, UpAxis, default_up_axis
from automata_desktop.core.scene_gltf import read_gltf
from automata_desktop.core.scene_obj import read_obj
from automata_desktop.core.scene_uvs import ensure_uvs

log = logging.getLogger(__name__)

#: Formats we promise to open, all tested.
SUPPORTED_SUFFIXES: tuple[str, ...] = (".glb", ".gltf", ".obj", ".ply", ".stl", ".off")

_LFS_POINTER = b"version https://git-lfs.github.com/spec/"


def load_scene(path: str | Path, *, up_axis: UpAxis | None = None, generate_uvs: bool = True) -> Scene:
    """Read `path` into a Scene. Blocking (numpy, file I/O): call it from a worker thread.

    `up_axis` is the user's override for this file (None: the format's default, see
    `default_up_axis`). With `generate_uvs`, each primitive without UVs gets an atlas and the
    scene a notice naming it; primitives with UVs keep theirs exactly.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise MeshError(
            f"Cannot open {path.name}: {suffix or 'no extension'} is not a supported mesh format "
            f"(use {', '.join(SUPPORTED_SUFFIXES)})"
        )
    if not path.is_file():
        raise MeshError(f"Cannot open {path}: the file does not exist")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MeshError(f"Cannot open {path.name}: {exc.strerror or exc}") from exc
    check_not_a_stand_in(path, data)
    try:
        if suffix in (".glb", ".gltf"):
            scene = read_gltf(path, data)
        elif suffix == ".obj":
            scene = read_obj(path, data)
        else:
            # trimesh (~0.8 s to import) only for the formats it reads: not on the app's start.
            from automata_desktop.core.scene_trimesh import read_with_trimesh

            scene = read_with_trimesh(path, data)
    except MeshError:
        raise
    except Exception as exc:  # a reader's unexpected trip on damaged bytes is still a damaged file
        log.debug("reading %s failed", path, exc_info=True)
        raise MeshError(f"Cannot open {path.name}: the file is damaged or not a {suffix[1:].upper()} "
                        f"mesh ({type(exc).__name__}: {exc})") from exc
    if scene.triangle_count == 0:
        raise MeshError(f"Cannot open {path.name}: it contains no triangles (a point cloud or empty "
                        "file)")
    if generate_uvs:
        scene = ensure_uvs(scene)
    return scene.with_up_axis(up_axis or default_up_axis(path))


def check_not_a_stand_in(path: Path, data: bytes) -> None:
    """Refuse, with the fix, bytes that are not a mesh at all (empty, LFS pointer, a web page)."""
    if not data.strip():
        raise MeshError(f"Cannot open {path.name}: the file is empty")
    if data.startswith(_LFS_POINTER):
        raise MeshError(f"Cannot open {path.name}: this is a Git LFS pointer, not the model: run "
                        "`git lfs pull` in its repository")
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<") and (head.startswith(b"<!doctype html") or b"<html" in head):
        raise MeshError(f"Cannot open {path.name}: it is a web page (HTML), not a mesh: the download "
                        "link served a page; download the raw file instead")
