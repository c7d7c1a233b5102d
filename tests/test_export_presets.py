"""Engine presets by pixel content: each engine gets the normal convention and channel packing
its importer reads, and exported files are readable by the user's other tools (umask mode)."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from automata_desktop.core.generation import Generation
from automata_desktop.core.maps import MapKind
from automata_desktop.library import Library

RNG = np.random.default_rng(11)
SIZE = 16
BASE = RNG.integers(0, 256, (SIZE, SIZE, 3), np.uint8)
NORMAL = RNG.integers(0, 256, (SIZE, SIZE, 3), np.uint8)
ROUGH = RNG.integers(0, 256, (SIZE, SIZE), np.uint8)
METAL = RNG.integers(0, 256, (SIZE, SIZE), np.uint8)
AO = RNG.integers(0, 256, (SIZE, SIZE), np.uint8)
ORM = np.stack([AO, ROUGH, METAL], axis=2)


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    lib = Library(tmp_path / "library")
    yield lib
    lib.close()


def generation(lib: Library, gen_id: str, maps: dict[MapKind, np.ndarray],
               convention: str = "OpenGL") -> str:
    lib.add(Generation(id=gen_id, workflow="pbr_from_image", server="local", prompt="wall",
                       parameters={"normal_convention": convention}))
    for kind, array in maps.items():
        lib.ingest(gen_id, kind, "generated", png(array), f"{kind}.png")
    return gen_id


SEPARATE = {MapKind.BASE_COLOR: BASE, MapKind.NORMAL: NORMAL, MapKind.ROUGHNESS: ROUGH,
            MapKind.METALLIC: METAL, MapKind.AO: AO}
ORM_ONLY = {MapKind.BASE_COLOR: BASE, MapKind.NORMAL: NORMAL, MapKind.ORM: ORM}


def export(lib: Library, gen_id: str, dest: Path, preset: str) -> dict[str, np.ndarray]:
    """Exported file -> pixels, keyed by the name without the material part."""
    written = lib.export(gen_id, dest, preset=preset, name="wall")
    return {re.sub(r"^(T_)?(wall|Wall)_", "", p.stem): pixels(p) for p in written}


@pytest.mark.parametrize("maps", [SEPARATE, ORM_ONLY], ids=["separate maps", "ORM map"])
def test_unreal_gets_a_directx_normal_and_its_orm_packing(library: Library, tmp_path: Path,
                                                         maps: dict) -> None:
    out = export(library, generation(library, "g", maps), tmp_path / "out", "unreal")

    assert np.array_equal(out["N"][..., 1], 255 - NORMAL[..., 1])  # green flipped
    assert np.array_equal(out["N"][..., [0, 2]], NORMAL[..., [0, 2]])
    assert np.array_equal(out["ORM"], ORM)  # R occlusion, G roughness, B metallic
    assert set(out) == {"BC", "N", "ORM"}  # the grey maps are inside the ORM


def test_a_16_bit_normal_map_stays_16_bit_when_flipped_for_unreal(library: Library,
                                                                  tmp_path: Path) -> None:
    from automata_desktop.core.png import read_png16
    from comfy_nodes.images import png_bytes

    # As the node pack writes it: a smooth 16-bit normal whose steps 8 bits would band.
    ramp = np.linspace(0.0, 1.0, SIZE * SIZE, dtype=np.float32).reshape(SIZE, SIZE)
    normal = np.stack([ramp, ramp.T, np.full_like(ramp, 0.9)], axis=2)
    library.add(Generation(id="deep", workflow="pbr_from_image", server="local", prompt="wall"))
    library.ingest("deep", MapKind.NORMAL, "generated", png_bytes(normal, bits=16), "normal.png")
    library.ingest("deep", MapKind.BASE_COLOR, "generated", png(BASE), "base_color.png")
    [path] = [p for p in library.export("deep", tmp_path / "out", preset="unreal", name="wall")
              if p.stem.endswith("_N")]

    source = (normal * 65535.0 + 0.5).astype(np.uint16)
    written = read_png16(path)
    assert written is not None and written.dtype == np.uint16  # 16-bit on disk
    assert np.array_equal(written[..., 1], 65535 - source[..., 1])  # green flipped, every bit
    assert np.array_equal(written[..., [0, 2]], source[..., [0, 2]])
    with Image.open(path) as image:  # and any other tool reads it
        assert image.size == (SIZE, SIZE)


def test_a_set_made_in_directx_is_not_flipped_for_unreal_and_is_flipped_for_godot(
        library: Library, tmp_path: Path) -> None:
    gen = generation(library, "dx", SEPARATE, convention="DirectX")
    unreal = export(library, gen, tmp_path / "unreal", "unreal")
    godot = export(library, gen, tmp_path / "godot", "godot")

    assert np.array_equal(unreal["N"], NORMAL)
    assert np.array_equal(godot["normal"][..., 1], 255 - NORMAL[..., 1])


@pytest.mark.parametrize("preset", ["generic", "blender", "unity", "unity_hdrp", "godot"])
def test_opengl_engines_get_the_opengl_normal_unchanged(library: Library, tmp_path: Path,
                                                        preset: str) -> None:
    written = library.export(generation(library, "g", SEPARATE), tmp_path / "out", preset=preset,
                             name="wall")
    normal_file = next(p for p in written if "normal" in p.stem.lower())
    assert normal_file.read_bytes() == png(NORMAL)


@pytest.mark.parametrize("maps", [SEPARATE, ORM_ONLY], ids=["separate maps", "ORM map"])
def test_unity_gets_metallic_with_smoothness_in_alpha(library: Library, tmp_path: Path,
                                                      maps: dict) -> None:
    out = export(library, generation(library, "g", maps), tmp_path / "out", "unity")

    packed = out["MetallicSmoothness"]
    assert packed.shape == (SIZE, SIZE, 4)
    assert np.array_equal(packed[..., 0], METAL)
    assert np.array_equal(packed[..., 3], 255 - ROUGH)  # smoothness = 1 - roughness
    assert np.array_equal(out["Occlusion"], AO)
    assert "Roughness" not in out and "Metallic" not in out and "ORM" not in out


@pytest.mark.parametrize("maps", [SEPARATE, ORM_ONLY], ids=["separate maps", "ORM map"])
def test_hdrp_gets_its_mask_map(library: Library, tmp_path: Path, maps: dict) -> None:
    out = export(library, generation(library, "g", maps), tmp_path / "out", "unity_hdrp")

    mask = out["MaskMap"]
    assert np.array_equal(mask[..., 0], METAL)
    assert np.array_equal(mask[..., 1], AO)
    assert np.all(mask[..., 2] == 255)  # detail mask: a detail map, once added, applies everywhere
    assert np.array_equal(mask[..., 3], 255 - ROUGH)
    assert set(out) == {"BaseColorMap", "NormalMap", "MaskMap"}


def test_godot_gets_an_orm_texture_for_orm_material_3d(library: Library, tmp_path: Path) -> None:
    out = export(library, generation(library, "g", SEPARATE), tmp_path / "out", "godot")
    assert np.array_equal(out["orm"], ORM)


def test_grey_maps_of_different_sizes_are_packed_at_the_largest(library: Library,
                                                               tmp_path: Path) -> None:
    small_metal = np.full((SIZE // 2, SIZE // 2), 200, np.uint8)
    gen = generation(library, "g", {MapKind.ROUGHNESS: ROUGH, MapKind.METALLIC: small_metal})
    out = export(library, gen, tmp_path / "out", "unreal")

    assert out["ORM"].shape == (SIZE, SIZE, 3)
    assert np.all(out["ORM"][..., 0] == 255)  # no AO: unoccluded
    assert np.array_equal(out["ORM"][..., 1], ROUGH)
    assert np.all(out["ORM"][..., 2] == 200)


# --- Blender: what Node Wrangler's Principled Texture Setup does with the files ------------------

# Node Wrangler's default tags (Blender 4.x preferences), and its socket order.
NW_SOCKETS = [
    ("Displacement", "displacement displace disp dsp height heightmap"),
    ("Base Color", "diffuse diff albedo base col color basecolor"),
    ("Subsurface Color", "sss subsurface"),
    ("Metallic", "metallic metalness metal mtl"),
    ("Specular", "specularity specular spec spc"),
    ("Roughness", "roughness rough rgh gloss glossy glossiness"),
    ("Normal", "normal nor nrm nrml norm bump bmp"),
    ("Emission", "emission emissive emit"),
    ("Alpha", "alpha opacity"),
    ("Ambient Occlusion", "ao ambient occlusion"),
]


def node_wrangler(files: list[str]) -> dict[str, str]:
    """Socket -> file, as Node Wrangler's match_files_to_socket_names picks them."""
    def components(name: str) -> set[str]:
        stem = re.sub(r"\d", "", name.rsplit(".", 1)[0])
        stem = re.sub(r"([a-z])([A-Z])", r"\1 \2", stem)
        return {c.lower() for c in re.split(r"[ _.\-#]+", stem) if c}

    chosen = {}
    for socket, tags in NW_SOCKETS:
        for name in files:
            if set(tags.split()) & components(name):
                chosen[socket] = name
                break
    return chosen


@pytest.mark.parametrize("maps", [SEPARATE, ORM_ONLY], ids=["separate maps", "ORM map"])
def test_blender_node_wrangler_wires_every_map_to_its_socket(library: Library, tmp_path: Path,
                                                            maps: dict) -> None:
    gen = generation(library, "g", maps)
    # A name with words Node Wrangler reads as map kinds ("metal", "color") must not mislead it.
    written = library.export(gen, tmp_path / "out", preset="blender",
                             name="Rusty metal plate, base color 2")
    wired = node_wrangler([p.name for p in written])
    by_name = {p.name: p for p in written}

    assert np.array_equal(pixels(by_name[wired["Base Color"]]), BASE)
    assert np.array_equal(pixels(by_name[wired["Normal"]]), NORMAL)
    assert np.array_equal(pixels(by_name[wired["Roughness"]]), ROUGH)
    assert np.array_equal(pixels(by_name[wired["Metallic"]]), METAL)
    assert np.array_equal(pixels(by_name[wired["Ambient Occlusion"]]), AO)


# --- permissions -----------------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
@pytest.mark.parametrize("preset", ["generic", "unreal"])  # copied files and converted ones
def test_exported_files_get_the_users_permissions(library: Library, tmp_path: Path, umask: int,
                                                  mode: int, preset: str) -> None:
    gen = generation(library, "g", SEPARATE)
    stored = library.get(gen).files[0].path  # type: ignore[union-attr]
    assert stored.stat().st_mode & 0o777 == 0o600  # the library keeps its own files private
    previous = os.umask(umask)
    try:
        written = library.export(gen, tmp_path / "out", preset=preset, name="wall")
    finally:
        os.umask(previous)
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in written} == \
        {p.name: oct(mode) for p in written}
