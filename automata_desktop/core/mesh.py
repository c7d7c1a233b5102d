"""A scene flattened into one triangle mesh with UVs, for the single-actor viewport.

The file is read as a Scene (`core.scene_io.load_scene`: hierarchy, a material per primitive, UVs
generated only where a primitive has none); `merge_scene` then places every primitive in world space
and concatenates them, each keeping its own UVs. This is the bridge for the current viewport, which
draws one actor with one material; per-material drawing reads the Scene itself.
Pure Python + numpy: call it from a worker thread, never the UI thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from automata_desktop.core.scene import (
    MeshError,
    Scene,
    mirrors,
    unit,
    world_normals,
    world_positions,
)
from automata_desktop.core.scene_io import SUPPORTED_SUFFIXES, load_scene
from automata_desktop.core.scene_uvs import spherical_uvs
from automata_desktop.core.texture_set import TextureError

__all__ = ["SUPPORTED_SUFFIXES", "MeshData", "MeshError", "load_mesh", "merge_scene", "spherical_uvs"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class MeshData:
    """One triangle mesh. UVs follow the OpenGL convention: v = 0 is the bottom of an image."""

    vertices: np.ndarray  # (n, 3) float32
    faces: np.ndarray  # (m, 3) int64
    normals: np.ndarray  # (n, 3) float32, unit length
    uvs: np.ndarray | None = None  # (n, 2) float32
    source: Path | None = None
    base_color_image: np.ndarray | None = None  # (h, w, 3|4) uint8, the first material's own
    notices: tuple[str, ...] = field(default=())  # things the user should know (UVs generated...)
    scene: Scene | None = None  # what it was merged from, for views that draw per material

    @property
    def triangle_count(self) -> int:
        return len(self.faces)

    @property
    def vertex_count(self) -> int:
        return len(self.vertices)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.vertices.min(axis=0), self.vertices.max(axis=0)


def load_mesh(path: str | Path, *, generate_uvs: bool = True) -> MeshData:
    """Read `path` into a single mesh; raise MeshError with a readable reason if that fails.

    Without `generate_uvs`, a file in which any primitive lacks UVs gives a mesh without UVs.
    """
    return merge_scene(load_scene(path, generate_uvs=generate_uvs))


def merge_scene(scene: Scene) -> MeshData:
    """Every drawn primitive in world space, concatenated; UV set 0 of each kept as the file has it.

    UVs are turned from glTF's top-left origin to VTK's bottom-left. A mirroring node transform
    reverses its faces' winding so they still face outwards.
    """
    vertices, faces, normals, uvs = [], [], [], []
    offset = 0
    instances = list(scene.instances())
    have_uvs = all(scene.primitive(i).uvs for i in instances)
    for instance in instances:
        primitive = scene.primitive(instance)
        vertices.append(world_positions(primitive.positions, instance.world))
        normals.append(world_normals(primitive.normals, instance.world))
        corners = primitive.faces[:, ::-1] if mirrors(instance.world) else primitive.faces
        faces.append(corners + offset)
        if have_uvs:
            uv = primitive.uvs[0].astype(np.float32, copy=True)
            uv[:, 1] = 1.0 - uv[:, 1]
            uvs.append(uv)
        offset += primitive.vertex_count
    notices = list(scene.notices)
    if len(instances) > 1:
        notices.append(f"Merged {len(instances)} objects of {scene.name} into one mesh.")
    return MeshData(
        vertices=np.concatenate(vertices).astype(np.float32, copy=False),
        faces=np.concatenate(faces).astype(np.int64, copy=False),
        normals=unit(np.concatenate(normals)),
        uvs=np.concatenate(uvs) if have_uvs else None,
        source=scene.source,
        base_color_image=_first_base_color(scene),
        notices=tuple(notices),
        scene=scene,
    )


def _first_base_color(scene: Scene) -> np.ndarray | None:
    for instance in scene.instances():
        texture = scene.material_of(scene.primitive(instance)).base_color_texture
        if texture is None or not texture.image.exists:
            continue
        try:
            pixels = texture.image.decode()
        except TextureError as exc:  # a broken texture should not stop the mesh from opening
            log.warning("ignoring unreadable texture: %s", exc)
            return None
        return pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
    return None
