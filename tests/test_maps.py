"""Map kinds inferred from the names texturing tools and ComfyUI give files."""

import pytest

from automata_desktop.core.maps import MapKind, infer_map_kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("automata_pbr_1a2b3c4d_base_color_00001_.png", MapKind.BASE_COLOR),
        ("rock_albedo.png", MapKind.BASE_COLOR),
        ("Brick_Diffuse.jpg", MapKind.BASE_COLOR),
        ("BrickBaseColor.png", MapKind.BASE_COLOR),
        ("rock_normal_00003_.png", MapKind.NORMAL),
        ("rock_NormalGL.png", MapKind.NORMAL),
        ("T_Rock_N.png", MapKind.OTHER),
        ("rock_disp.exr", MapKind.HEIGHT),
        ("rock_height_00001_.png", MapKind.HEIGHT),
        ("rock_rough.png", MapKind.ROUGHNESS),
        ("rock_Roughness.png", MapKind.ROUGHNESS),
        ("rock_metal.png", MapKind.METALLIC),
        ("rock_metallic_00001_.png", MapKind.METALLIC),
        ("rock_ao.png", MapKind.AO),
        ("rock_orm.png", MapKind.ORM),
        ("textured_mesh.glb", MapKind.MESH),
        ("ComfyUI_00001_.png", MapKind.OTHER),
    ],
)
def test_kind_from_filename(name, kind):
    assert infer_map_kind(name) == kind


def test_an_explicit_hint_wins():
    assert infer_map_kind("whatever.png", hint="normal") is MapKind.NORMAL
    assert infer_map_kind("rock_ao.png", hint="not-a-kind") is MapKind.AO
