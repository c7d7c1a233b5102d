"""An occlusion map laid out on a second UV set, resampled into the first (core/uv_bake): each
texel of the target layout shows what the source layout puts at that point of the surface."""

from __future__ import annotations

import numpy as np

from automata_desktop.core.uv_bake import CLAMP_TO_EDGE, bake_to_uvs

# A unit square as two triangles; glTF UVs (v = 0 at the image's top row).
SQUARE_FACES = np.array([[0, 1, 2], [0, 2, 3]])
SQUARE_UV0 = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)


def quadrant_ao(size: int = 64) -> np.ndarray:
    """White, with a dark (20) top-left quadrant."""
    ao = np.full((size, size), 255, np.uint8)
    ao[: size // 2, : size // 2] = 20
    return ao


def test_a_dark_corner_on_a_mirrored_uv1_lands_mirrored_in_uv0_space():
    uv1 = np.column_stack([1 - SQUARE_UV0[:, 0], SQUARE_UV0[:, 1]])  # mirrored in u
    baked = bake_to_uvs(quadrant_ao(), SQUARE_FACES, uv1, SQUARE_UV0, (32, 32))
    assert baked.shape == (32, 32) and baked.dtype == np.uint8
    # The surface point UV1 calls top-left is UV0's top-right.
    assert (baked[2:14, 18:30] == 20).all()
    assert (baked[2:14, 2:14] == 255).all() and (baked[18:30, :] == 255).all()


def test_the_bake_is_at_the_target_resolution_and_follows_a_rotated_layout():
    uv1 = np.array([[0, 1], [0, 0], [1, 0], [1, 1]], np.float32)  # UV0 turned a quarter
    gradient = np.tile(np.linspace(0, 255, 128, dtype=np.float32), (128, 1)).astype(np.uint8)
    baked = bake_to_uvs(gradient, SQUARE_FACES, uv1, SQUARE_UV0, (48, 24))
    assert baked.shape == (24, 48)
    # UV1's u runs along UV0's v: the gradient now runs down the rows, the same on every column.
    column = baked[:, 24].astype(int)
    assert (np.diff(column) > 0).all() and column[0] < 20 and column[-1] > 235
    assert np.abs(baked.astype(int) - column[:, None]).max() <= 1


def test_a_source_uv_past_one_repeats_the_map_as_glTF_does():
    uv1 = SQUARE_UV0 * 2  # the occlusion tiled twice over the square
    baked = bake_to_uvs(quadrant_ao(), SQUARE_FACES, uv1, SQUARE_UV0, (64, 64))
    dark = baked < 128
    # The dark quadrant appears in each of the four tiles' top-left corners.
    for top in (0, 32):
        for left in (0, 32):
            assert dark[top + 2:top + 14, left + 2:left + 14].all()
            assert not dark[top + 18:top + 30, left + 18:left + 30].any()


def test_a_clamped_sampler_stretches_the_edge_instead_of_repeating():
    uv1 = SQUARE_UV0 * 2
    baked = bake_to_uvs(quadrant_ao(), SQUARE_FACES, uv1, SQUARE_UV0, (64, 64),
                        wrap=(CLAMP_TO_EDGE, CLAMP_TO_EDGE))
    assert (baked[2:14, 2:14] == 20).all()  # the one dark corner, once
    assert (baked[36:, :] == 255).all() and (baked[:, 36:] == 255).all()


def test_texels_just_past_an_island_take_its_value_not_black():
    # One island in the middle of UV0 (a quarter of the map), all of the source dark grey.
    island_uv0 = SQUARE_UV0 * 0.5 + 0.25
    grey = np.full((16, 16), 90, np.uint8)
    baked = bake_to_uvs(grey, SQUARE_FACES, SQUARE_UV0, island_uv0, (64, 64), dilation=3)
    # The island spans texels 16..47; three texels of dilation reach 13..50 on each side.
    assert (baked[13:51, 13:51] == 90).all()
    # Past the dilation the map holds the island's mean, so mipmaps keep its brightness.
    assert (baked[:8, :] == 90).all()


def test_uncovered_texels_far_from_any_island_take_the_islands_mean():
    island_uv0 = SQUARE_UV0 * 0.25
    half = np.zeros((16, 16), np.uint8)
    half[:, 8:] = 200
    baked = bake_to_uvs(half, SQUARE_FACES, SQUARE_UV0, island_uv0, (64, 64), dilation=1)
    assert abs(int(baked[50, 50]) - 100) <= 8


def test_a_dense_mesh_bakes_every_texel_it_covers():
    # 2 × 160 × 160 = 51,200 triangles over the whole square; UV1 mirrors v.
    n = 160
    grid = np.stack(np.meshgrid(np.linspace(0, 1, n + 1), np.linspace(0, 1, n + 1)), -1)
    uv0 = grid.reshape(-1, 2).astype(np.float32)
    index = np.arange((n + 1) * (n + 1)).reshape(n + 1, n + 1)
    a, b, c, d = index[:-1, :-1], index[:-1, 1:], index[1:, 1:], index[1:, :-1]
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3),
                            np.stack([a, c, d], -1).reshape(-1, 3)])
    uv1 = np.column_stack([uv0[:, 0], 1 - uv0[:, 1]])
    ramp = np.repeat(np.linspace(0, 255, 256, dtype=np.float32)[:, None], 256, 1)
    baked = bake_to_uvs(ramp.astype(np.uint8), faces, uv1, uv0, (256, 256), dilation=0)
    expected = ramp[::-1].astype(int)
    # Every texel is covered (no cracks along the shared edges) and mirrored top to bottom.
    assert np.abs(baked.astype(int) - expected)[1:-1].max() <= 2
