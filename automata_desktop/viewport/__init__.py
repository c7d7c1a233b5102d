"""The VTK adapter: MeshData + TextureSet → a PBR-shaded pyvista actor, lit by a bundled HDRI."""

from automata_desktop.viewport.environment import Environment, apply_environment
from automata_desktop.viewport.material_view import (
    MaterialView,
    PreparedTextures,
    ViewMode,
    mesh_to_polydata,
    prepare_textures,
)

__all__ = [
    "Environment",
    "MaterialView",
    "PreparedTextures",
    "ViewMode",
    "apply_environment",
    "mesh_to_polydata",
    "prepare_textures",
]
