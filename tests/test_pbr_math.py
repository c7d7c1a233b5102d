"""The PBR derivation behaves the way a texture artist expects."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from automata_desktop.core import pbr


def _decode(n: np.ndarray) -> np.ndarray:
    return n * 2.0 - 1.0


def _tileable_pattern(size: int = 128) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size * 2 * np.pi
    rng = np.random.default_rng(7)
    noise = np.fft.ifft2(np.fft.fft2(rng.random((size, size))) * (rng.random((size, size)) > 0.9))
    base = 0.5 + 0.25 * np.sin(3 * x) * np.cos(2 * y) + 0.2 * np.real(noise)
    return np.clip(np.stack([base, base * 0.8, base * 0.6], axis=2), 0, 1).astype(np.float32)


def test_a_height_ramp_rising_to_the_right_tilts_normals_left_by_the_expected_angle():
    width, strength = 64, 3.0
    ramp = np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (32, 1))
    n = _decode(pbr.normal_from_height(ramp, strength=strength))
    slope = strength / (width - 1)  # height units per pixel times strength
    expected = np.array([-slope, 0.0, 1.0]) / np.sqrt(1 + slope**2)
    np.testing.assert_allclose(n[:, 1:-1].reshape(-1, 3), np.tile(expected, (32 * 62, 1)), atol=1e-5)


def test_a_height_rising_towards_the_bottom_points_green_up_in_opengl_and_down_in_directx():
    ramp = np.tile(np.linspace(0.0, 1.0, 48, dtype=np.float32)[:, None], (1, 16))
    gl = pbr.normal_from_height(ramp, strength=4.0, convention="opengl")
    dx = pbr.normal_from_height(ramp, strength=4.0, convention="directx")
    assert gl[24, 8, 1] > 0.5 > dx[24, 8, 1]
    np.testing.assert_allclose(gl[..., [0, 2]], dx[..., [0, 2]])
    np.testing.assert_allclose(gl[..., 1], 1.0 - dx[..., 1], atol=1e-6)
    np.testing.assert_allclose(pbr.flip_normal_convention(gl), dx, atol=1e-6)


@pytest.mark.parametrize("convention", ["opengl", "directx"])
def test_a_flat_image_gives_a_flat_normal_and_no_occlusion(convention):
    flat = np.full((40, 30, 3), 0.42, dtype=np.float32)
    maps = pbr.derive_pbr(flat, pbr.PBRSettings(normal_convention=convention))
    np.testing.assert_allclose(maps.normal, np.broadcast_to([0.5, 0.5, 1.0], (40, 30, 3)), atol=1e-6)
    np.testing.assert_allclose(maps.ao, 1.0, atol=1e-5)
    assert np.ptp(maps.height) == 0


def test_outputs_have_documented_shapes_types_and_range():
    rng = np.random.default_rng(1)
    img = (rng.random((33, 47, 3)) * 255).astype(np.uint8)
    maps = pbr.derive_pbr(img, pbr.PBRSettings(metallic_strength=0.8))
    assert maps.base_color.shape == maps.normal.shape == (33, 47, 3)
    for gray in (maps.height, maps.roughness, maps.metallic, maps.ao):
        assert gray.shape == (33, 47)
    for m in (maps.base_color, maps.normal, maps.height, maps.roughness, maps.metallic, maps.ao):
        assert m.dtype == np.float32
        assert m.min() >= 0.0 and m.max() <= 1.0
    np.testing.assert_allclose(maps.base_color, img / 255.0, atol=1e-6)


def test_metallic_is_zero_unless_asked_for():
    img = np.full((8, 8, 3), 0.9, dtype=np.float32)
    assert pbr.derive_pbr(img).metallic.max() == 0
    assert pbr.derive_pbr(img, pbr.PBRSettings(metallic_strength=1.0)).metallic.min() > 0.5


@pytest.mark.parametrize(
    "make",
    [
        lambda g: (g * 255).astype(np.uint8),  # gray HxW
        lambda g: (g * 255).astype(np.uint8)[:, :, None],  # HxWx1
        lambda g: np.dstack([g, g, g]).astype(np.float32),  # RGB float
        lambda g: (np.dstack([g, g, g, np.ones_like(g)]) * 65535).astype(np.uint16),  # RGBA 16-bit
    ],
    ids=["gray8", "gray8x1", "rgb_float", "rgba16"],
)
def test_gray_rgb_rgba_and_16_bit_inputs_give_the_same_height(make):
    g = np.tile(np.linspace(0.1, 0.9, 32, dtype=np.float32), (24, 1))
    reference = pbr.height_from_color(np.dstack([g, g, g]))
    np.testing.assert_allclose(pbr.height_from_color(make(g)), reference, atol=2e-3)


def test_sixteen_bit_input_keeps_its_precision():
    fine = (np.arange(256 * 256, dtype=np.uint32) % 65536).astype(np.uint16).reshape(256, 256)
    as_float = pbr.to_float_image(fine)
    assert len(np.unique(as_float)) == 65536


def test_invert_turns_height_upside_down():
    rng = np.random.default_rng(3)
    img = rng.random((32, 32, 3)).astype(np.float32)
    h = pbr.height_from_color(img)
    np.testing.assert_allclose(pbr.height_from_color(img, invert=True), 1.0 - h, atol=1e-6)


def test_a_tileable_texture_gives_maps_that_tile():
    img = _tileable_pattern(128)
    settings = pbr.PBRSettings(seamless=True)
    maps = pbr.derive_pbr(img, settings)
    # Moving the seam into the middle of the tile must not change the maps: the seam is invisible.
    shifted = pbr.derive_pbr(np.roll(img, (64, 64), axis=(0, 1)), settings)
    for name in ("normal", "height", "roughness", "ao"):
        a, b = np.roll(getattr(maps, name), (64, 64), axis=(0, 1)), getattr(shifted, name)
        np.testing.assert_allclose(a, b, atol=1e-4, err_msg=name)
    # The jump across the border is like any jump inside the tile.
    h = maps.height
    inner = np.abs(np.diff(h, axis=1)).max()
    assert np.abs(h[:, 0] - h[:, -1]).max() <= inner + 1e-6


def test_without_seamless_the_borders_are_clamped_not_wrapped():
    img = np.zeros((16, 64), dtype=np.float32)
    img[:, :4] = 1.0  # a bright strip on the left border only
    wrapped = pbr.normal_from_height(img, strength=4, seamless=True)
    clamped = pbr.normal_from_height(img, strength=4, seamless=False)
    assert abs(wrapped[8, -1, 0] - 0.5) > 0.1  # wrapping sees the strip beyond the right border
    assert clamped[8, -1, 0] == pytest.approx(0.5)


def test_the_fast_blur_is_close_to_a_true_gaussian():
    rng = np.random.default_rng(5)
    img = ndimage.zoom(rng.random((32, 32)), 8, order=1).astype(np.float32)
    for sigma in (0.8, 3.0, 12.0):
        for seamless in (False, True):
            ours = pbr.gaussian_blur(img, sigma, seamless=seamless)
            mode = "wrap" if seamless else "nearest"
            exact = ndimage.gaussian_filter(img, sigma, mode=mode)
            assert np.abs(ours - exact).max() < 0.03, (sigma, seamless)


def test_orm_packing_round_trips_through_split_and_an_8_bit_png():
    rng = np.random.default_rng(9)
    ao, rough, metal = (rng.random((20, 30)).astype(np.float32) for _ in range(3))
    orm = pbr.pack_orm(ao, rough, metal)
    r, g, b, a = pbr.split_channels(orm)
    np.testing.assert_array_equal(r, ao)
    np.testing.assert_array_equal(g, rough)
    np.testing.assert_array_equal(b, metal)
    np.testing.assert_array_equal(a, 1.0)
    buf = io.BytesIO()
    Image.fromarray((orm * 255 + 0.5).astype(np.uint8)).save(buf, format="PNG")
    back = pbr.split_channels(np.asarray(Image.open(io.BytesIO(buf.getvalue()))))
    for original, loaded in zip((ao, rough, metal), back, strict=False):
        assert np.abs(original - loaded).max() <= 0.5 / 255 + 1e-6


def test_orm_defaults_and_size_mismatch():
    rough = np.full((4, 4), 0.3, dtype=np.float32)
    orm = pbr.pack_orm(None, rough)
    np.testing.assert_allclose(orm[0, 0], [1.0, 0.3, 0.0], atol=1e-6)
    with pytest.raises(ValueError, match="same size"):
        pbr.pack_orm(np.zeros((5, 4)), rough)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((4, 4, 5)), "1-4 channels"),
        (np.zeros((2, 4, 4, 3)), "1-4 channels"),
        (np.zeros((4, 4), dtype=np.complex64), "unsupported pixel type"),
        (np.zeros((0, 4)), "empty"),
    ],
)
def test_bad_images_get_a_clear_error(bad, message):
    with pytest.raises(ValueError, match=message):
        pbr.derive_pbr(bad)


def test_unknown_normal_convention_is_refused():
    with pytest.raises(ValueError, match="opengl"):
        pbr.normal_from_height(np.zeros((4, 4)), convention="vulkan")  # type: ignore[arg-type]


def test_tiny_images_work():
    for shape in ((1, 1, 3), (1, 7, 3), (5, 1, 3), (3, 3, 3)):
        maps = pbr.derive_pbr(np.random.default_rng(0).random(shape).astype(np.float32))
        assert maps.normal.shape == shape


def test_derived_occlusion_of_a_flat_veined_marble_keeps_the_veins_grey_not_black():
    # Veins are colour, not cracks: the height guessed from luminance makes them deep, so a hard
    # AO curve painted them as black crevices under any light.
    from tests.marble import cream_marble

    marble, veins = cream_marble()
    ao = pbr.derive_pbr(marble).ao
    assert ao.mean() >= 0.95  # flat stone is barely occluded
    assert ao[veins].min() >= 0.5  # the deepest vein keeps at least half its light
    strong = pbr.derive_pbr(marble, pbr.PBRSettings(ao_strength=3.0)).ao
    assert strong[veins].mean() < ao[veins].mean() - 0.2  # the strength control still bites


def test_occlusion_halves_the_light_of_the_deepest_crevice_per_unit_of_strength():
    pit = np.ones((64, 64), np.float32)
    pit[30:34, 30:34] = 0.0  # a narrow pit 1 height unit deep: 2 units below both blur scales
    one, two = (pbr.ambient_occlusion(pit, strength=s)[32, 32] for s in (1.0, 2.0))
    assert 0.5 <= one < 0.6
    assert two == pytest.approx(one * one, rel=1e-4)
