"""Each map of a material reads its own UV set and texture transform, as the glTF says."""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import vtk_to_numpy

from automata_desktop.core.scene_io import load_scene
from automata_desktop.viewport.scene_view import MaterialLook, scene_parts
from tests.fixtures.assets import damaged_helmet


def test_a_map_on_another_uv_set_gets_those_uvs_with_its_own_transform(tmp_path):
    # DamagedHelmet-like: base colour on TEXCOORD_0, emissive on TEXCOORD_1 offset and scaled.
    helmet = damaged_helmet(tmp_path)
    scene = load_scene(helmet.path)
    (part,) = scene_parts(scene)
    points = part.polydata.GetPointData()
    emissive = scene.materials[0].emissive_texture
    expected = emissive.transform.apply(helmet.facts["uvs1"])
    expected[:, 1] = 1 - expected[:, 1]  # VTK's v = 0 at the bottom
    assert np.allclose(vtk_to_numpy(points.GetArray("emissive_uv")), expected, atol=1e-6)
    assert MaterialLook.of(scene.materials[0]).own_uvs == {"emissive"}
    # The actor's own UVs stay the base colour's TEXCOORD_0, untransformed.
    primary = scene.meshes[0].primitives[0].uv(0).copy()
    primary[:, 1] = 1 - primary[:, 1]
    assert np.allclose(vtk_to_numpy(points.GetTCoords()), primary, atol=1e-6)
