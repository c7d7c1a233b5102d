"""A shown texture set keeps one copy of its pixels (VTK's), and the viewport's numpy stand-ins for
VTK filters give what VTK would: the memory and responsiveness work must not change what users see."""

from __future__ import annotations

import gc

import numpy as np
import pyvista as pv
from PIL import Image
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkFiltersCore import vtkPolyDataTangents

from automata_desktop.core.maps import MapKind
from automata_desktop.core.mesh import load_mesh
from automata_desktop.core.texture_set import THUMBNAIL_SIZE, TextureSet
from automata_desktop.paths import resources_dir
from automata_desktop.viewport import ViewMode, mesh_to_polydata, prepare_textures
from automata_desktop.viewport.tangents import vertex_tangents
from automata_desktop.viewport.textures import make_texture, texture_pixels


def rows_of(texture) -> np.ndarray:
    """A texture's pixels as HxWxC, top row first (VTK stores the bottom row first)."""
    image = texture.GetInput()
    width, height, _ = image.GetDimensions()
    return vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)[::-1]


def maps_folder(tmp_path, size=256):
    rng = np.random.default_rng(7)
    arrays = {"basecolor": rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
              "normal": rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
              "ao": rng.integers(0, 256, (size, size), dtype=np.uint8),
              "roughness": rng.integers(0, 256, (size, size), dtype=np.uint8)}
    for name, array in arrays.items():
        Image.fromarray(array).save(tmp_path / f"rock_{name}.png")
    return arrays


def test_a_texture_keeps_its_pixels_after_the_caller_drops_them():
    textures = []
    for value in range(8):
        pixels = np.full((64, 32, 3), value, np.uint8)
        pixels[0] = 255  # the top row, which VTK must store last
        textures.append(make_texture(pixels))
        del pixels
    gc.collect()
    _reuse_freed_memory = [np.zeros((64, 32, 3), np.uint8) + 9 for _ in range(16)]
    for value, texture in enumerate(textures):
        rows = rows_of(texture)
        assert (rows[0] == 255).all() and (rows[1:] == value).all()


def test_a_shown_set_drops_decoded_file_pixels_but_keeps_sizes_and_thumbnails(tmp_path):
    arrays = maps_folder(tmp_path)
    loaded = TextureSet.from_folder(tmp_path).loaded().with_derived_maps()
    released = loaded.released()
    colour = released.get(MapKind.BASE_COLOR)
    assert colour.pixels is None and colour.size == (256, 256)
    assert max(colour.thumbnail.shape[:2]) <= THUMBNAIL_SIZE
    # Derived maps have no file to come back from: they stay, at 8/16-bit depth, not float32.
    assert released.get(MapKind.HEIGHT).pixels.dtype == np.uint16
    assert released.pixels(MapKind.NORMAL) is not None  # the folder's own normal map, re-read
    again = released.loaded()
    assert np.array_equal(again.pixels(MapKind.BASE_COLOR), arrays["basecolor"])
    assert np.array_equal(released.pixels(MapKind.AO), arrays["ao"])


def test_debug_views_show_each_map_from_the_lit_views_own_textures(tmp_path):
    # No twin texture, no extracted channel: each would be one more GL copy of a 4K map.
    arrays = maps_folder(tmp_path)
    prepared = prepare_textures(TextureSet.from_folder(tmp_path).loaded())
    base = prepared.for_mode(ViewMode.BASE_COLOR)
    assert base.texture is prepared.base_color and base.texture.GetUseSRGBColorSpace()
    assert np.array_equal(texture_pixels(base.texture), arrays["basecolor"])
    for mode in (ViewMode.AO, ViewMode.ROUGHNESS):
        assert prepared.for_mode(mode).texture is prepared.orm
    orm = texture_pixels(prepared.orm)
    assert np.array_equal(orm[..., 0], arrays["ao"])
    assert np.array_equal(orm[..., 1], arrays["roughness"])
    assert prepared.for_mode(ViewMode.METALLIC) is None  # no metallic map: flat grey, not black
    assert prepared.for_mode(ViewMode.HEIGHT) is None


def test_each_texture_can_be_made_again_from_the_sets_files(tmp_path):
    # What a texture whose GL copy was lost (a re-created context) is uploaded from.
    arrays = maps_folder(tmp_path)
    prepared = prepare_textures(TextureSet.from_folder(tmp_path).loaded())
    assert np.array_equal(prepared.reloads["base_color"](), arrays["basecolor"])
    assert np.array_equal(prepared.reloads["normal"](), arrays["normal"])
    orm = prepared.reloads["orm"]()
    assert np.array_equal(orm[..., 0], arrays["ao"]) and (orm[..., 2] == 0).all()  # no metal


def test_the_tangents_match_vtks_own_filter_on_the_sample_mesh():
    mesh = load_mesh(resources_dir() / "samples" / "sample.glb")
    poly = pv.PolyData.from_regular_faces(mesh.vertices, mesh.faces)
    poly.point_data.active_normals = mesh.normals
    poly.active_texture_coordinates = mesh.uvs
    reference = vtkPolyDataTangents()
    reference.SetInputData(poly)
    reference.Update()
    expected = vtk_to_numpy(reference.GetOutput().GetPointData().GetTangents())
    expected = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    ours = vertex_tangents(mesh)
    assert np.percentile(np.einsum("ij,ij->i", ours, expected), 1) > 0.99
    bound = mesh_to_polydata(mesh).GetPointData().GetTangents()
    assert bound is not None and bound.GetNumberOfTuples() == mesh.vertex_count
