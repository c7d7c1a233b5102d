"""Texture sets: maps found by file name, decoded at their real depth, packed for the viewport."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from automata_desktop.core.maps import MapKind
from automata_desktop.core.texture_set import (
    MapSource,
    TextureError,
    TextureMap,
    TextureSet,
    load_image,
    to_uint8,
)
from automata_desktop.paths import resources_dir

SAMPLES = resources_dir() / "samples"


@pytest.fixture
def sample_folder(tmp_path):
    folder = tmp_path / "tiles"
    folder.mkdir()
    for png in SAMPLES.glob("sample_*.png"):
        shutil.copy(png, folder / png.name)
    (folder / "notes.txt").write_text("not a map")
    (folder / "ComfyUI_00001_.png").write_bytes(b"")  # an unnamed output: skipped, never read
    return folder


def test_a_folder_of_maps_is_sorted_into_kinds_by_file_name(sample_folder):
    textures = TextureSet.from_folder(sample_folder)
    assert textures.kinds == (MapKind.BASE_COLOR, MapKind.NORMAL, MapKind.HEIGHT,
                              MapKind.ROUGHNESS, MapKind.METALLIC, MapKind.AO)
    assert all(t.source is MapSource.IMPORTED and not t.is_loaded for t in textures)
    assert textures.name == "tiles"


def test_decoding_keeps_16_bit_height_and_8_bit_colour(sample_folder):
    textures = TextureSet.from_folder(sample_folder).loaded()
    height = textures.pixels(MapKind.HEIGHT)
    assert height.dtype == np.uint16 and height.ndim == 2
    assert len(np.unique(height)) > 256  # real 16-bit precision, not 8-bit data widened
    base = textures.pixels(MapKind.BASE_COLOR)
    assert base.dtype == np.uint8 and base.shape == (1024, 1024, 3)


def test_separate_ao_roughness_metallic_pack_into_one_orm_texture(tmp_path):
    Image.new("L", (64, 64), 200).save(tmp_path / "rock_roughness.png")
    Image.new("L", (32, 32), 255).save(tmp_path / "rock_metallic.png")  # smaller: gets resized
    orm = TextureSet.from_folder(tmp_path).loaded().orm()
    assert orm.shape == (64, 64, 3) and orm.dtype == np.uint8
    assert tuple(orm[10, 10]) == (255, 200, 255)  # no AO map: unoccluded


def test_an_orm_map_is_used_as_it_is(tmp_path):
    Image.new("RGB", (8, 8), (10, 20, 30)).save(tmp_path / "rock_orm.png")
    Image.new("L", (8, 8), 99).save(tmp_path / "rock_roughness.png")
    orm = TextureSet.from_folder(tmp_path).loaded().orm()
    assert tuple(orm[0, 0]) == (10, 20, 30)


def test_a_set_without_material_maps_has_no_orm():
    base = TextureMap(MapKind.BASE_COLOR, MapSource.GENERATED,
                      pixels=np.zeros((4, 4, 3), np.uint8))
    assert TextureSet({MapKind.BASE_COLOR: base}).orm() is None


def test_sets_are_immutable_and_with_map_returns_a_changed_copy():
    base = TextureMap(MapKind.BASE_COLOR, pixels=np.zeros((4, 4, 3), np.uint8))
    derived = TextureMap(MapKind.NORMAL, MapSource.DERIVED, pixels=np.zeros((4, 4, 3), np.uint8))
    first = TextureSet({MapKind.BASE_COLOR: base})
    second = first.with_map(derived)
    assert MapKind.NORMAL not in first and second.get(MapKind.NORMAL).source is MapSource.DERIVED
    with pytest.raises(TypeError):
        first.maps[MapKind.NORMAL] = derived
    assert MapKind.BASE_COLOR not in second.without(MapKind.BASE_COLOR)


def test_an_unreadable_image_names_the_file(tmp_path):
    (tmp_path / "rock_normal.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(TextureError, match=r"rock_normal\.png"):
        TextureSet.from_folder(tmp_path).loaded()


def test_a_folder_without_maps_says_how_to_name_them(tmp_path):
    (tmp_path / "readme.md").write_text("hi")
    with pytest.raises(TextureError, match="basecolor"):
        TextureSet.from_folder(tmp_path)
    with pytest.raises(TextureError, match="does not exist"):
        TextureSet.from_folder(tmp_path / "nope")


def test_palette_and_grey_alpha_images_decode_to_plain_channels(tmp_path):
    Image.new("P", (4, 4), 3).save(tmp_path / "p.png")
    Image.new("LA", (4, 4), (90, 255)).save(tmp_path / "la.png")
    assert load_image(tmp_path / "p.png").shape == (4, 4, 3)
    assert load_image(tmp_path / "la.png").shape == (4, 4)


def test_to_uint8_scales_16_bit_and_float():
    assert to_uint8(np.array([0, 257, 65535], np.uint16)).tolist() == [0, 1, 255]
    assert to_uint8(np.array([0.0, 0.5, 2.0], np.float32)).tolist() == [0, 128, 255]


def test_a_base_color_only_set_gets_derived_normal_height_roughness_and_ao(tmp_path):
    shutil.copy(SAMPLES / "sample_basecolor.png", tmp_path / "tiles_basecolor.png")
    Image.new("L", (64, 64), 40).save(tmp_path / "tiles_roughness.png")
    textures = TextureSet.from_folder(tmp_path).loaded().with_derived_maps()

    assert textures.get(MapKind.ROUGHNESS).source is MapSource.IMPORTED  # never overwritten
    for kind in (MapKind.NORMAL, MapKind.HEIGHT, MapKind.AO):
        assert textures.get(kind).source is MapSource.DERIVED
        assert textures.get(kind).size == (1024, 1024)
    normal = to_uint8(textures.pixels(MapKind.NORMAL))
    assert normal[..., 2].mean() > 200  # mostly facing out of the surface
    assert normal[..., 0].std() > 3  # but the tile edges tilt it
    assert MapKind.METALLIC not in textures


def test_orm_from_8bit_maps_matches_the_general_packing():
    rng = np.random.default_rng(3)
    ao, rough = (rng.integers(0, 256, (16, 16), dtype=np.uint8) for _ in range(2))
    fast = TextureSet({MapKind.AO: TextureMap(MapKind.AO, pixels=ao),
                       MapKind.ROUGHNESS: TextureMap(MapKind.ROUGHNESS, pixels=rough)}).orm()
    general = TextureSet({MapKind.AO: TextureMap(MapKind.AO, pixels=ao.astype(np.float32) / 255),
                          MapKind.ROUGHNESS: TextureMap(MapKind.ROUGHNESS, pixels=rough)}).orm()
    assert fast.dtype == np.uint8 and fast.shape == (16, 16, 3)
    assert np.array_equal(fast[..., 0], ao) and np.array_equal(fast[..., 1], rough)
    assert (fast[..., 2] == 0).all()  # no metallic map: dielectric
    assert np.abs(fast.astype(int) - general.astype(int)).max() <= 1
