"""Resample a map from one UV layout into another, through the mesh's triangles (a UV-to-UV bake).

VTK samples a material's ORM texture with one UV set, but glTF lets occlusion read another
TEXCOORD or KHR_texture_transform than metallic-roughness (AO baked on a second UV set is common).
`bake_to_uvs` rasterises each triangle in the target layout at the target image's resolution,
interpolates the triangle's source UVs at each texel centre with barycentric weights and samples
the source image there (bilinear, glTF wrap modes). Texels no triangle covers get the values of
covered neighbours for a few steps (`DEFAULT_DILATION`), so bilinear filtering and mipmaps do not
bleed the background into the seams of UV islands; the rest take the covered texels' mean, so low
mip levels keep the map's overall brightness.

Conventions: UVs are glTF's (v = 0 at the image's top row), images are row-major (H, W[, C]).
Pure numpy, vectorised over batches of triangle tiles: no Python loop per triangle.
"""

from __future__ import annotations

import numpy as np

#: glTF sampler wrap modes (WebGL enums).
REPEAT, CLAMP_TO_EDGE, MIRRORED_REPEAT = 10497, 33071, 33648
#: Steps of dilation past the islands' edges (texels at the target resolution).
DEFAULT_DILATION = 4
#: A triangle's bounding box is cut into tiles of at most this many texels a side, so one
#: triangle covering a 4K map is many small work items rather than one 16M-texel batch.
_TILE = 32
#: Candidate texels evaluated at once (bounds the temporary arrays to tens of MB).
_BATCH = 1 << 20
#: Tile sizes are padded up to one of these, so a batch holds tiles of one shape.
_STEPS = np.array([1, 2, 3, 4, 6, 8, 12, 16, 24, 32])
_EDGE = -1e-6  # a texel centre on a shared edge belongs to both triangles: no cracks


def bake_to_uvs(
    source: np.ndarray,
    faces: np.ndarray,
    source_uv: np.ndarray,
    target_uv: np.ndarray,
    size: tuple[int, int],
    *,
    wrap: tuple[int, int] = (REPEAT, REPEAT),
    dilation: int = DEFAULT_DILATION,
) -> np.ndarray:
    """`source` (H, W) or its first channel, resampled into the layout of `target_uv`.

    `faces` (F, 3) index both (V, 2) UV arrays; `size` is the target's (width, height); `wrap`
    the source sampler's (S, T) modes. Returns (height, width) of `source`'s dtype.
    """
    width, height = size
    src = source if source.ndim == 2 else source[..., 0]
    values = np.zeros((height, width), np.float32)
    covered = np.zeros((height, width), bool)
    faces = np.asarray(faces, np.int64).reshape(-1, 3)
    if len(faces):
        target = np.asarray(target_uv, np.float64)[faces] * (width, height) - 0.5  # texel centres
        _rasterise(values, covered, src.astype(np.float32),
                   target, np.asarray(source_uv, np.float64)[faces], wrap)
    _dilate(values, covered, dilation)
    if np.issubdtype(src.dtype, np.integer):
        info = np.iinfo(src.dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(src.dtype)
    return values.astype(src.dtype)


def _rasterise(values: np.ndarray, covered: np.ndarray, src: np.ndarray,
               target: np.ndarray, source: np.ndarray, wrap: tuple[int, int]) -> None:
    height, width = values.shape
    a, b, c = target[:, 0], target[:, 1], target[:, 2]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    lo = np.ceil(target.min(axis=1)).astype(np.int64)  # first texel centre inside the box
    hi = np.floor(target.max(axis=1)).astype(np.int64)
    keep = (np.abs(area) > 1e-12) & np.all(hi >= lo, axis=1) & np.isfinite(area)
    # Tiles of each kept triangle's box: (triangle, x0, y0, w, h).
    tri = np.flatnonzero(keep)
    lo, hi, area = lo[tri], hi[tri], area[tri]
    extent = hi - lo + 1
    tiles_x, tiles_y = -(-extent[:, 0] // _TILE), -(-extent[:, 1] // _TILE)
    counts = tiles_x * tiles_y
    owner = np.repeat(np.arange(len(tri)), counts)
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    tx, ty = k % tiles_x[owner], k // tiles_x[owner]
    x0, y0 = lo[owner, 0] + tx * _TILE, lo[owner, 1] + ty * _TILE
    tw = np.minimum(_TILE, hi[owner, 0] + 1 - x0)
    th = np.minimum(_TILE, hi[owner, 1] + 1 - y0)
    pad_w, pad_h = np.searchsorted(_STEPS, tw), np.searchsorted(_STEPS, th)
    shape_key = pad_w * len(_STEPS) + pad_h
    order = np.argsort(shape_key, kind="stable")
    keys, starts = np.unique(shape_key[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    for key, start, end in zip(keys, starts, ends, strict=True):
        pw, ph = int(_STEPS[key // len(_STEPS)]), int(_STEPS[key % len(_STEPS)])
        per_batch = max(1, _BATCH // (pw * ph))
        for first in range(start, end, per_batch):
            items = order[first:min(end, first + per_batch)]
            t = tri[owner[items]]
            xs = (x0[items][:, None, None] + np.arange(pw)[None, None, :]).astype(np.float64)
            ys = (y0[items][:, None, None] + np.arange(ph)[None, :, None]).astype(np.float64)
            # Barycentric weights of each texel centre (the box padding falls outside: dropped).
            ax, ay = a[t, 0][:, None, None], a[t, 1][:, None, None]
            bx, by = b[t, 0][:, None, None], b[t, 1][:, None, None]
            cx, cy = c[t, 0][:, None, None], c[t, 1][:, None, None]
            inv = 1.0 / area[owner[items]][:, None, None]
            w_b = ((xs - ax) * (cy - ay) - (ys - ay) * (cx - ax)) * inv
            w_c = ((bx - ax) * (ys - ay) - (by - ay) * (xs - ax)) * inv
            w_a = 1.0 - w_b - w_c
            inside = (w_a >= _EDGE) & (w_b >= _EDGE) & (w_c >= _EDGE)
            n, row, col = np.nonzero(inside)
            s = source[t[n]]  # (m, 3, 2)
            wa, wb, wc = w_a[n, row, col], w_b[n, row, col], w_c[n, row, col]
            su = wa * s[:, 0, 0] + wb * s[:, 1, 0] + wc * s[:, 2, 0]
            sv = wa * s[:, 0, 1] + wb * s[:, 1, 1] + wc * s[:, 2, 1]
            # The target map repeats too: a triangle past [0, 1] writes where it is drawn.
            out_y = ys[n, row, 0].astype(np.int64) % height
            out_x = xs[n, 0, col].astype(np.int64) % width
            values[out_y, out_x] = sample_bilinear(src, su, sv, wrap)
            covered[out_y, out_x] = True


def sample_bilinear(image: np.ndarray, u: np.ndarray, v: np.ndarray,
                    wrap: tuple[int, int] = (REPEAT, REPEAT)) -> np.ndarray:
    """`image` (H, W) at glTF UVs, filtered bilinearly as a GPU does, with the sampler's wraps."""
    height, width = image.shape
    px, py = u * width - 0.5, v * height - 0.5
    fx0, fy0 = np.floor(px), np.floor(py)
    fx, fy = (px - fx0).astype(np.float32), (py - fy0).astype(np.float32)
    x0, y0 = fx0.astype(np.int64), fy0.astype(np.int64)
    x0, x1 = _wrap(x0, width, wrap[0]), _wrap(x0 + 1, width, wrap[0])
    y0, y1 = _wrap(y0, height, wrap[1]), _wrap(y0 + 1, height, wrap[1])
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _wrap(index: np.ndarray, size: int, mode: int) -> np.ndarray:
    if mode == CLAMP_TO_EDGE:
        return np.clip(index, 0, size - 1)
    if mode == MIRRORED_REPEAT:
        period = index % (2 * size)
        return np.where(period < size, period, 2 * size - 1 - period)
    return index % size


def _dilate(values: np.ndarray, covered: np.ndarray, steps: int) -> None:
    """Grow the islands by `steps` texels (mean of covered 8-neighbours, wrapping as REPEAT)."""
    if not covered.any():
        return
    mean = float(values[covered].mean())
    for _ in range(steps):
        total = np.zeros_like(values)
        count = np.zeros(values.shape, np.float32)
        weighted = np.where(covered, values, 0.0)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dx or dy:
                    total += np.roll(weighted, (dy, dx), axis=(0, 1))
                    count += np.roll(covered, (dy, dx), axis=(0, 1))
        grow = ~covered & (count > 0)
        if not grow.any():
            break
        values[grow] = total[grow] / count[grow]
        covered |= grow
    values[~covered] = mean
