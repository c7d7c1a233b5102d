"""A mesh file as a scene: nodes with transforms, meshes of primitives, each with its own material.

The shape is glTF 2.0's, whatever the file format, so the viewport draws one actor per primitive
instance and an exporter writes it back without losing hierarchy, transforms, UV sets or materials:

    Scene
    ├── nodes: Node(name, matrix (local 4x4), world (4x4), parent, children, mesh)
    ├── roots: indices of the top-level nodes
    ├── meshes: Mesh(name, primitives: Primitive(positions, faces, normals, uvs, material, ...))
    ├── materials: Material (core.material: glTF PBR slots, lazily decoded ImageSource textures)
    ├── up_axis: "Y" | "Z"   (glTF is Y-up; see `default_up_axis` for the other formats)
    └── notices: what the user should know (UVs generated for "glass", Draco decoded, ...)

Conventions, the same for every format:
- Positions and normals are in the node's local space; `Node.world` places them (`world_positions`).
  Units are the file's. Coordinates are never rotated to another up axis: `up_axis` says which one
  is up, and the viewport turns its camera to it (`up_vector`, `front_vector`).
- UVs are glTF's: (0, 0) is the top-left of the image, v grows downwards. OBJ/PLY readers flip v
  on reading; `core.mesh.merge_scene` flips back for VTK (bottom-left origin).
- `Primitive.uvs[n]` is TEXCOORD_n. A primitive the file gave no UVs has `uvs == ()` until
  `core.scene_uvs.ensure_uvs` generates a set (then `generated_uvs` is True and a notice names it).
- `Primitive.material` indexes `Scene.materials`; None means glTF's default material.

Reading files: `core.scene_io.load_scene(path, up_axis=None, generate_uvs=True)`. Every failure is a
`MeshError` whose message names the file and the fix; a usable file with damage (a truncated OBJ,
a missing texture) opens with a notice instead.

Public names (used by the viewport, the Material panel, the GLB exporter and `automata inspect`):
`Scene`, `Node`, `Mesh`, `Primitive`, `Instance`, `MeshError`, `UpAxis`, `UP_AXES`,
`default_up_axis`; `Scene.objects`, `.walk()`, `.instances()` (one per primitive per drawing node:
what the viewport makes an actor of), `.primitive(instance)`, `.material_of(primitive)`, `.bounds`,
`.triangle_count`, `.vertex_count`, `.up_vector`, `.front_vector`, `.with_up_axis(axis)`,
`.replace_primitives(fn)`; `world_positions`, `world_normals`, `mirrors`, `vertex_normals`.
Materials and textures: core.material (`Material`, `TextureRef`, `ImageSource.decode()` /
`.read_bytes()` / `.size()`, `TextureTransform`, `Sampler`, `MAP_KINDS`). One merged mesh for the
single-actor viewport: `core.mesh.merge_scene`. The inspect report: `core.scene_report.describe`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np

from automata_desktop.core.material import DEFAULT_MATERIAL, Material
from automata_desktop.errors import AutomataError

UpAxis = Literal["Y", "Z"]
UP_AXES: tuple[UpAxis, ...] = ("Y", "Z")

# Which way is up when a file does not say: glTF is Y-up by specification. Blender's OBJ exporter
# writes Y-up by default, its STL and PLY exporters Z-up (as CAD, 3D printing and scanners do);
# OFF (ModelNet, Princeton) is Z-up. The user overrides a wrong guess per file (View → Up axis).
_DEFAULT_UP: dict[str, UpAxis] = {
    ".gltf": "Y", ".glb": "Y", ".obj": "Y", ".stl": "Z", ".ply": "Z", ".off": "Z",
}


class MeshError(AutomataError):
    """A mesh file could not be opened or holds no usable surface."""


def default_up_axis(path: str | Path) -> UpAxis:
    """The up axis a file of this kind has unless the user says otherwise."""
    return _DEFAULT_UP.get(Path(path).suffix.lower(), "Y")


@dataclass(frozen=True, eq=False)
class Primitive:
    """Triangles drawn with one material. Treat the arrays as read-only: a mesh drawn by two nodes
    and the copies `replace_primitives` makes share them."""

    positions: np.ndarray  # (n, 3) float32, local space
    faces: np.ndarray  # (m, 3) int64, counter-clockwise = front
    normals: np.ndarray  # (n, 3) float32, unit length (computed if the file had none)
    uvs: tuple[np.ndarray, ...] = ()  # TEXCOORD_0, TEXCOORD_1, ...: (n, 2) float32, glTF convention
    material: int | None = None  # index into Scene.materials; None = glTF default material
    colors: np.ndarray | None = None  # COLOR_0, (n, 4) float32 linear RGBA
    tangents: np.ndarray | None = None  # TANGENT, (n, 4) float32 (xyz, w = bitangent sign)
    name: str = ""  # for messages: "Cesium_Milk_Truck #1"
    generated_uvs: bool = False  # uvs[0] was made by us (xatlas), not read from the file

    @property
    def triangle_count(self) -> int:
        return len(self.faces)

    @property
    def vertex_count(self) -> int:
        return len(self.positions)

    def uv(self, index: int = 0) -> np.ndarray | None:
        """TEXCOORD_`index`, or None if the primitive has no such set."""
        return self.uvs[index] if index < len(self.uvs) else None


@dataclass(frozen=True, eq=False)
class Mesh:
    name: str
    primitives: tuple[Primitive, ...]


@dataclass(frozen=True, eq=False)
class Node:
    """A node of the hierarchy. `world` = parent's world @ `matrix` (column vectors)."""

    name: str  # the file's name, else its mesh's, else "node 3"
    matrix: np.ndarray  # (4, 4) float64 local transform
    world: np.ndarray  # (4, 4) float64
    parent: int | None = None
    children: tuple[int, ...] = ()
    mesh: int | None = None  # index into Scene.meshes


@dataclass(frozen=True, eq=False)
class Instance:
    """One primitive placed in the world by one node (a mesh used by two nodes gives two)."""

    node: int
    mesh: int
    primitive: int
    world: np.ndarray  # (4, 4)


@dataclass(frozen=True, eq=False)
class Scene:
    nodes: tuple[Node, ...]
    roots: tuple[int, ...]
    meshes: tuple[Mesh, ...]
    materials: tuple[Material, ...] = ()
    up_axis: UpAxis = "Y"
    source: Path | None = None
    format: str = ""  # "glTF", "GLB", "OBJ", "PLY", "STL", "OFF"
    generator: str | None = None  # glTF asset.generator, or the tool an OBJ/PLY header names
    extensions_used: tuple[str, ...] = ()
    extensions_required: tuple[str, ...] = ()
    notices: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.source.name if self.source else "scene"

    @property
    def objects(self) -> tuple[int, ...]:
        """Indices of the nodes that draw a mesh, in hierarchy order (depth first from the roots)."""
        return tuple(i for i in self.walk() if self.nodes[i].mesh is not None)

    def walk(self) -> Iterator[int]:
        """Node indices depth first from the roots, each once."""
        stack = list(reversed(self.roots))
        while stack:
            index = stack.pop()
            yield index
            stack.extend(reversed(self.nodes[index].children))

    def instances(self) -> Iterator[Instance]:
        for index in self.objects:
            node = self.nodes[index]
            assert node.mesh is not None
            for p in range(len(self.meshes[node.mesh].primitives)):
                yield Instance(index, node.mesh, p, node.world)

    def primitive(self, instance: Instance) -> Primitive:
        return self.meshes[instance.mesh].primitives[instance.primitive]

    def material_of(self, primitive: Primitive) -> Material:
        if primitive.material is None or primitive.material >= len(self.materials):
            return DEFAULT_MATERIAL
        return self.materials[primitive.material]

    @property
    def triangle_count(self) -> int:
        """Triangles drawn (an instanced mesh counts once per node that draws it)."""
        return sum(self.primitive(i).triangle_count for i in self.instances())

    @property
    def vertex_count(self) -> int:
        return sum(self.primitive(i).vertex_count for i in self.instances())

    @cached_property
    def bounds(self) -> np.ndarray:
        """(2, 3) world-space [min, max] over every drawn vertex; zeros for an empty scene."""
        lows, highs = [], []
        for instance in self.instances():
            points = world_positions(self.primitive(instance).positions, instance.world)
            if len(points):
                lows.append(points.min(axis=0))
                highs.append(points.max(axis=0))
        if not lows:
            return np.zeros((2, 3))
        return np.array([np.min(lows, axis=0), np.max(highs, axis=0)], dtype=np.float64)

    @property
    def up_vector(self) -> tuple[float, float, float]:
        return (0.0, 1.0, 0.0) if self.up_axis == "Y" else (0.0, 0.0, 1.0)

    @property
    def front_vector(self) -> tuple[float, float, float]:
        """From the model towards a viewer looking at its front: glTF's front faces +Z; a Z-up
        (Blender) model's front faces -Y, which is where Blender's Front view (numpad 1) looks from."""
        return (0.0, 0.0, 1.0) if self.up_axis == "Y" else (0.0, -1.0, 0.0)

    def with_up_axis(self, up_axis: UpAxis | None) -> Scene:
        """This scene with another up axis (the user's per-file override); None keeps it."""
        if up_axis is None or up_axis == self.up_axis:
            return self
        if up_axis not in UP_AXES:
            raise ValueError(f"up axis must be one of {UP_AXES}, not {up_axis!r}")
        return replace(self, up_axis=up_axis)

    def with_notices(self, *notices: str) -> Scene:
        return replace(self, notices=(*self.notices, *notices)) if notices else self

    def replace_primitives(self, change: Callable[[Primitive], Primitive]) -> Scene:
        """A copy with `change` applied to every primitive (meshes that do not change are shared)."""
        meshes = []
        for mesh in self.meshes:
            primitives = tuple(change(p) for p in mesh.primitives)
            same = all(a is b for a, b in zip(primitives, mesh.primitives, strict=True))
            meshes.append(mesh if same else Mesh(mesh.name, primitives))
        return replace(self, meshes=tuple(meshes))


def world_positions(positions: np.ndarray, world: np.ndarray) -> np.ndarray:
    """(n, 3) float32 points moved by a 4x4 transform."""
    if np.array_equal(world, np.eye(4)):
        return positions
    return (positions @ world[:3, :3].T.astype(np.float32) + world[:3, 3].astype(np.float32))


def world_normals(normals: np.ndarray, world: np.ndarray) -> np.ndarray:
    """Normals moved by the inverse transpose of the transform's linear part, unit length again."""
    if np.array_equal(world, np.eye(4)):
        return normals
    linear = np.linalg.inv(world[:3, :3]).T.astype(np.float32)
    return unit(normals @ linear.T)


def mirrors(world: np.ndarray) -> bool:
    """A transform with negative determinant turns counter-clockwise faces clockwise (glTF §3.7.4)."""
    return bool(np.linalg.det(world[:3, :3]) < 0)


def vertex_normals(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted smooth normals (for files that have none), numpy only."""
    p0, p1, p2 = (positions[faces[:, i]] for i in range(3))
    face_normals = np.cross(p1 - p0, p2 - p0)  # length = 2 x area: larger faces weigh more
    normals = np.zeros_like(positions, dtype=np.float32)
    corners = faces.ravel()
    for axis in range(3):
        normals[:, axis] = np.bincount(
            corners, weights=np.repeat(face_normals[:, axis], 3), minlength=len(positions))
    return unit(normals)


def unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    length = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, length, out=np.zeros_like(vectors), where=length > 0)
