"""UVs for the primitives a file gave none, and only for those.

Texturing needs UVs, and a file without them still deserves a preview. A primitive that has its
own UVs keeps them exactly: a truck whose glass has no UVs keeps its body's texture layout. xatlas
gives a proper chart atlas (vertices are split along the new seams, so every per-vertex array is
re-indexed); without it, a spherical projection: crude, but enough to preview a texture.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from automata_desktop.core.scene import Primitive, Scene


def ensure_uvs(scene: Scene) -> Scene:
    """`scene` with generated UVs (and a notice naming them) for each primitive that has none."""
    generated: list[str] = []
    method = "a UV atlas with xatlas"

    def give_uvs(primitive: Primitive) -> Primitive:
        nonlocal method
        if primitive.uvs or not len(primitive.faces):
            return primitive
        generated.append(_label(scene, primitive))
        made, method = generate_uvs(primitive)
        return made

    changed = scene.replace_primitives(give_uvs)
    if not generated:
        return scene
    return changed.with_notices(f"{_join(generated)} had no UVs; generated {method} "
                                f"for {'it' if len(generated) == 1 else 'them'}.")


def generate_uvs(primitive: Primitive) -> tuple[Primitive, str]:
    """A copy with uvs[0] generated, and how ("a UV atlas with xatlas" or the projection)."""
    try:
        import xatlas
    except ImportError:
        xatlas = None
    if xatlas is None:
        uvs = spherical_uvs(primitive.positions)
        uvs[:, 1] = 1.0 - uvs[:, 1]  # north pole at the top of the image, in glTF's convention
        return (replace(primitive, uvs=(uvs,), generated_uvs=True),
                "UVs projected from a sphere (seams and stretching likely)")
    mapping, faces, uvs = xatlas.parametrize(primitive.positions, primitive.faces.astype(np.uint32))
    return replace(
        primitive,
        positions=primitive.positions[mapping],
        normals=primitive.normals[mapping],
        colors=None if primitive.colors is None else primitive.colors[mapping],
        tangents=None,  # tangents follow the UVs: the old ones (if any) belong to no UV set now
        faces=faces.astype(np.int64),
        uvs=(uvs.astype(np.float32),),
        generated_uvs=True,
    ), "a UV atlas with xatlas"


def spherical_uvs(vertices: np.ndarray) -> np.ndarray:
    """Longitude/latitude of each vertex around the bounding-box centre, in [0, 1]² (v = 1 at +Y)."""
    centred = vertices - (vertices.min(axis=0) + vertices.max(axis=0)) / 2
    x, y, z = centred.T
    radius = np.linalg.norm(centred, axis=1) + 1e-12
    u = 0.5 + np.arctan2(x, z) / (2 * np.pi)
    v = 0.5 + np.arcsin(np.clip(y / radius, -1.0, 1.0)) / np.pi
    return np.column_stack([u, v]).astype(np.float32)


def _label(scene: Scene, primitive: Primitive) -> str:
    material = scene.material_of(primitive).name if primitive.material is not None else ""
    name = primitive.name or "mesh"
    return f'"{name}" (material "{material}")' if material and material != name else f'"{name}"'


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
