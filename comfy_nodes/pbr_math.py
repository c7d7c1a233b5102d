"""Derive a PBR texture set from a single base color image. Pure numpy, no Python pixel loops.

Conventions (every output is float32 in 0..1, same height and width as the input):
  height     HxW, 1 = raised (white is high), 0 = deep.
  normal     HxWx3 tangent-space normal encoded as 0.5 + 0.5·n, n = normalize(-s·∂h/∂x, ±s·∂h/∂y, 1)
             with ∂ measured in height units per pixel. OpenGL (Y+) puts "up the image" in green;
             DirectX (Y-) is the same map with green inverted. A flat surface is (0.5, 0.5, 1).
  roughness  HxW, 1 = fully rough.       metallic  HxW, 1 = metal (estimate; 0 unless asked for).
  ao         HxW, 1 = unoccluded.        orm       HxWx3 glTF packing: R=occlusion, G=roughness,
                                                   B=metallic.
Seamless mode treats the image as a tile (neighbours wrap around the borders); otherwise borders
are clamped. Inputs may be HxW or HxWxC (C = 1..4), uint8, uint16 or float (assumed 0..1).

Speed: large gaussian blurs run on a block-averaged copy (a power-of-two pyramid level) and are
upsampled bilinearly; small ones use a short separable kernel. This keeps a 4096² derivation of all
maps around a second on two cores while staying shift-consistent in seamless mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

NormalConvention = Literal["opengl", "directx"]

_REC709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


# ----------------------------------------------------------------------------- input handling


def to_float_image(image: np.ndarray) -> np.ndarray:
    """Return `image` as float32 HxWxC in 0..1 (C = 1..4), whatever its integer or float type."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or not 1 <= a.shape[2] <= 4:
        raise ValueError(f"expected an HxW or HxWxC image with 1-4 channels, got shape {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"image is empty (shape {a.shape})")
    if a.dtype in (np.uint8, np.uint16):
        out = a.astype(np.float32)
        out *= np.float32(1 / np.iinfo(a.dtype).max)
        return out
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if np.issubdtype(a.dtype, np.floating):
        return np.clip(a, 0.0, 1.0, dtype=np.float32)
    raise ValueError(f"unsupported pixel type {a.dtype}: use uint8, uint16 or float 0..1")


def to_gray(image: np.ndarray) -> np.ndarray:
    """One channel, HxW float32: Rec.709 luma of RGB(A); the first channel of gray(+alpha)."""
    a = to_float_image(image)
    if a.shape[2] >= 3:
        return a[:, :, :3] @ _REC709  # matmul is ~10x faster than np.dot for this shape
    return np.ascontiguousarray(a[:, :, 0])


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Three channels, HxWx3 float32: alpha dropped, gray replicated."""
    a = to_float_image(image)
    if a.shape[2] >= 3:
        return np.ascontiguousarray(a[:, :, :3])
    return np.repeat(a[:, :, :1], 3, axis=2)


# ----------------------------------------------------------------------------- filters


def _pad_mode(seamless: bool) -> str:
    return "wrap" if seamless else "edge"


def _kernel_blur(a: np.ndarray, sigma: float, seamless: bool) -> np.ndarray:
    """Separable gaussian with a short explicit kernel; cost grows with sigma, so keep it small."""
    r = max(1, math.ceil(3.0 * sigma))
    x = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    w = (w / w.sum()).astype(np.float32)[r:]  # symmetric: w[k] weighs both neighbours at ±k
    tmp = np.empty_like(a)
    first = np.empty_like(a)
    _blur_axis0(a, w, seamless, first, tmp)
    out = np.empty_like(a)
    _blur_axis0(first.T, w, seamless, out.T, tmp.T)
    return out


def _blur_axis0(
    a: np.ndarray, w: np.ndarray, seamless: bool, out: np.ndarray, tmp: np.ndarray
) -> np.ndarray:
    """Blur along axis 0 into `out`, writing whole-array temporaries only into `tmp`.

    No padded copy of the image: interior rows take shifted slices, and the r rows at each end
    are recomputed from a small padded strip (wrapped or clamped).
    """
    n, r = a.shape[0], len(w) - 1
    if n <= 2 * r:
        p = np.pad(a, ((r, r), (0, 0)), mode=_pad_mode(seamless))
        np.multiply(p[r : r + n], w[0], out=out)
        for k in range(1, r + 1):
            out += w[k] * (p[r - k : r - k + n] + p[r + k : r + k + n])
        return out
    np.multiply(a, w[0], out=out)
    for k in range(1, r + 1):
        t = tmp[: n - 2 * k]
        np.add(a[: n - 2 * k], a[2 * k :], out=t)
        t *= w[k]
        out[k : n - k] += t
    for rows in (slice(0, r), slice(n - r, n)):  # the ends, from a padded strip of 3r rows
        strip = _end_strip(a, rows.start, r, seamless)
        acc = strip[r : 2 * r] * w[0]
        for k in range(1, r + 1):
            acc += w[k] * (strip[r - k : 2 * r - k] + strip[r + k : 2 * r + k])
        out[rows] = acc
    return out


def _end_strip(a: np.ndarray, lo: int, r: int, seamless: bool) -> np.ndarray:
    """Rows lo-r .. lo+2r-1 of `a`, wrapped or clamped at the borders."""
    n = a.shape[0]
    idx = np.arange(lo - r, lo + 2 * r)
    idx = idx % n if seamless else np.clip(idx, 0, n - 1)
    return a[idx]


def _downsample(a: np.ndarray, f: int) -> np.ndarray:
    h, w = a.shape
    return a.reshape(h // f, f, w // f, f).mean(axis=(1, 3), dtype=np.float32)


def _clamped_low_res(a: np.ndarray, f: int, margin: int) -> np.ndarray:
    """Block means of `a` surrounded by `margin` blocks of what clamping would put beyond the
    border (the edge rows/columns replicated), so a low-res blur sees the true boundary."""
    low = _downsample(a, f)
    lh, lw = low.shape
    m = margin
    out = np.empty((lh + 2 * m, lw + 2 * m), dtype=np.float32)
    out[m : m + lh, m : m + lw] = low
    out[:m, m : m + lw] = a[0].reshape(lw, f).mean(axis=1)
    out[m + lh :, m : m + lw] = a[-1].reshape(lw, f).mean(axis=1)
    out[m : m + lh, :m] = a[:, 0].reshape(lh, f).mean(axis=1)[:, None]
    out[m : m + lh, m + lw :] = a[:, -1].reshape(lh, f).mean(axis=1)[:, None]
    out[:m, :m], out[:m, m + lw :] = a[0, 0], a[0, -1]
    out[m + lh :, :m], out[m + lh :, m + lw :] = a[-1, 0], a[-1, -1]
    return out


def _upsample_axis(
    a: np.ndarray, f: int, n: int, axis: int, seamless: bool, offset: int = 0
) -> np.ndarray:
    """Bilinear upsampling by `f` along one axis to length `n` (pixel centres aligned); output
    pixel 0 lies `offset` low-res samples into `a`."""
    m = a.shape[axis]
    pos = (np.arange(n, dtype=np.float64) + 0.5) / f - 0.5 + offset
    i0 = np.floor(pos).astype(np.intp)
    t = (pos - i0).astype(np.float32)
    i1 = i0 + 1
    if seamless:
        i0 %= m
        i1 %= m
    else:
        np.clip(i0, 0, m - 1, out=i0)
        np.clip(i1, 0, m - 1, out=i1)
    lo = np.take(a, i0, axis=axis)
    hi = np.take(a, i1, axis=axis)
    shape = [1, 1]
    shape[axis] = n
    hi -= lo
    hi *= t.reshape(shape)
    lo += hi
    return lo


def _pyramid_factor(shape: tuple[int, int], sigma: float, seamless: bool) -> int:
    f = 1
    while f * 2 <= sigma / 0.8 and f * 2 * 4 <= min(shape):
        f *= 2
    if seamless:  # a wrapped low-res grid must tile exactly, so f has to divide both sides
        while f > 1 and (shape[0] % f or shape[1] % f):
            f //= 2
    return f


def gaussian_blur(image: np.ndarray, sigma: float, *, seamless: bool = False) -> np.ndarray:
    """Approximate gaussian blur of a 2-D float32 array (returns a new array; sigma in pixels)."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"gaussian_blur takes a single-channel HxW array, got shape {a.shape}")
    if sigma <= 0.2:
        return a.copy()
    f = _pyramid_factor(a.shape, sigma, seamless)
    if f == 1:
        return _kernel_blur(a, sigma, seamless)
    h, w = a.shape
    ph, pw = -h % f, -w % f
    padded = np.pad(a, ((0, ph), (0, pw)), mode="edge") if ph or pw else a
    # The block mean and the bilinear upsampling blur too (variances (f²-1)/12 and ~f²/6): take
    # them out of the low-res kernel so the total stays close to the requested sigma.
    rest = sigma * sigma - (f * f - 1) / 12.0 - f * f / 6.0
    low_sigma = math.sqrt(max(rest, 0.09 * f * f)) / f
    if seamless:
        margin = 0
        low = _downsample(padded, f)
    else:
        margin = math.ceil(3.0 * low_sigma) + 1
        low = _clamped_low_res(padded, f, margin)
    low = _kernel_blur(low, low_sigma, seamless)
    up = _upsample_axis(low, f, h, 0, seamless, margin)
    return _upsample_axis(up, f, w, 1, seamless, margin)


def _robust_normalize(a: np.ndarray, lo_pct: float = 1.0, hi_pct: float = 99.0) -> np.ndarray:
    """Stretch to 0..1 between percentiles of a strided sample (full sorts cost ~1 s at 4K)."""
    step = max(1, int(math.sqrt(a.size / 262_144)))
    lo, hi = np.percentile(a[::step, ::step], [lo_pct, hi_pct])
    if hi - lo < 1e-6:
        lo, hi = float(a.min()), float(a.max())
    if hi - lo < 1e-6:
        return np.full(a.shape, 0.5, dtype=np.float32)
    out = a - np.float32(lo)
    out *= np.float32(1.0 / (hi - lo))
    return np.clip(out, 0.0, 1.0, out=out)


# ----------------------------------------------------------------------------- maps


def height_from_color(
    image: np.ndarray,
    *,
    blur: float = 1.0,
    detail: float = 0.6,
    invert: bool = False,
    seamless: bool = False,
) -> np.ndarray:
    """Height from luminance: bright = high, with large-scale shading removed.

    `detail` (0..1) subtracts that share of a wide blur (σ = 1/16 of the larger side), so baked
    lighting gradients do not become slopes; `blur` (σ, pixels) smooths pixel noise.
    """
    return _height(to_gray(image), blur, detail, invert, seamless)


def _height(lum: np.ndarray, blur: float, detail: float, invert: bool, seamless: bool) -> np.ndarray:
    """`lum` is a float32 HxW array this function may overwrite."""
    if detail > 0:
        wide = gaussian_blur(lum, max(lum.shape) / 16.0, seamless=seamless)
        wide *= np.float32(detail)
        lum -= wide
    if blur > 0:
        lum = gaussian_blur(lum, blur, seamless=seamless)
    height = _robust_normalize(lum)
    if invert:
        np.subtract(np.float32(1.0), height, out=height)
    return height


def normal_from_height(
    height: np.ndarray,
    *,
    strength: float = 2.0,
    convention: NormalConvention = "opengl",
    seamless: bool = False,
    invert: bool = False,
) -> np.ndarray:
    """Tangent-space normal map (HxWx3, encoded 0..1) from central differences of a height map."""
    if convention not in ("opengl", "directx"):
        raise ValueError(f"normal convention must be 'opengl' or 'directx', not {convention!r}")
    h = to_gray(height)
    if invert:
        np.subtract(np.float32(1.0), h, out=h)
    return _normal(h, strength, convention, seamless)


def _normal(h: np.ndarray, strength: float, convention: str, seamless: bool) -> np.ndarray:
    hh, ww = h.shape
    s = np.float32(0.5 * strength)
    dx = _central_difference(h, 1, seamless)
    dy = _central_difference(h, 0, seamless)  # rows grow downwards: +dy = rising towards the bottom
    dx *= -s
    # OpenGL green points up the image, so a surface rising towards the bottom leans up (+).
    dy *= s if convention == "opengl" else -s
    out = np.empty((hh, ww, 3), dtype=np.float32)
    inv = dx * dx
    scratch = np.multiply(dy, dy, out=out[:, :, 2])
    inv += scratch
    inv += np.float32(1.0)
    np.sqrt(inv, out=inv)
    np.divide(np.float32(0.5), inv, out=inv)  # 0.5/|n|: normalise and scale to the 0..1 encoding
    np.multiply(dx, inv, out=out[:, :, 0])
    np.multiply(dy, inv, out=out[:, :, 1])
    out[:, :, 2] = inv
    out += np.float32(0.5)
    return out


def _central_difference(h: np.ndarray, axis: int, seamless: bool) -> np.ndarray:
    """h[i+1] - h[i-1] along `axis`, neighbours wrapped or clamped at the ends."""
    d = np.empty(h.shape, dtype=np.float32)
    a, v = np.moveaxis(h, axis, 0), np.moveaxis(d, axis, 0)  # views: memory order unchanged
    if a.shape[0] == 1:
        d[...] = 0.0
        return d
    np.subtract(a[2:], a[:-2], out=v[1:-1])
    if seamless:
        np.subtract(a[1], a[-1], out=v[0])
        np.subtract(a[0], a[-2], out=v[-1])
    else:
        np.subtract(a[1], a[0], out=v[0])
        np.subtract(a[-1], a[-2], out=v[-1])
    return d


def flip_normal_convention(normal: np.ndarray) -> np.ndarray:
    """OpenGL ↔ DirectX: the same encoded normal map with the green channel inverted."""
    out = to_rgb(normal)
    np.subtract(np.float32(1.0), out[:, :, 1], out=out[:, :, 1])
    return out


def ambient_occlusion(
    height: np.ndarray,
    *,
    strength: float = 1.0,
    radius: float = 8.0,
    seamless: bool = False,
) -> np.ndarray:
    """Cavity-style AO: how far a point lies below its surroundings at two scales (σ, 4σ px).

    Light falls off exponentially with that depth: at strength 1 the deepest possible crevice
    (2 height units below its surroundings) keeps half its light, and each further unit of
    strength halves it again. The height is only a guess from colour, normalised to the full
    0..1 range, so a faint vein on marble is as "deep" as a real crack: a linear ramp clipped at
    0 turned such veins black under any light, where a subtle default keeps them grey.
    """
    return _ao(to_gray(height), strength, radius, seamless)


def _ao(h: np.ndarray, strength: float, radius: float, seamless: bool) -> np.ndarray:
    cavity = np.zeros_like(h)
    for sigma in (radius, 4.0 * radius):
        around = gaussian_blur(h, sigma, seamless=seamless)
        around -= h
        np.maximum(around, 0.0, out=around)
        cavity += around
    cavity *= np.float32(-0.5 * math.log(2.0) * strength)  # 2^(-strength·depth/2)
    np.exp(cavity, out=cavity)
    return np.clip(cavity, 0.0, 1.0, out=cavity)


def roughness_from_color(
    image: np.ndarray,
    *,
    level: float = 0.6,
    contrast: float = 0.6,
    invert: bool = False,
) -> np.ndarray:
    """Roughness estimate: `level` on average, darker than average = rougher (× `contrast`)."""
    return _roughness(to_gray(image), level, contrast, invert)


def _roughness(lum: np.ndarray, level: float, contrast: float, invert: bool) -> np.ndarray:
    """`lum` is a float32 HxW array this function overwrites."""
    step = max(1, int(math.sqrt(lum.size / 262_144)))
    mean = np.float32(lum[::step, ::step].mean())
    lum -= mean
    lum *= np.float32(-contrast)
    lum += np.float32(level)
    if invert:
        np.subtract(np.float32(1.0), lum, out=lum)
    return np.clip(lum, 0.0, 1.0, out=lum)


def metallic_from_color(image: np.ndarray, *, strength: float = 0.0) -> np.ndarray:
    """Metallic estimate: bright, low-saturation or warm-metal colors score high. 0 by default,
    since a photo rarely tells metal from paint; `strength` scales the estimate."""
    return _metallic(to_rgb(image), strength)


def _metallic(rgb: np.ndarray, strength: float) -> np.ndarray:
    if strength <= 0:
        return np.zeros(rgb.shape[:2], dtype=np.float32)
    r, g, b = rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2]
    v = np.maximum(np.maximum(r, g), b)  # per-slice ufuncs: max(axis=2) is 4x slower
    sat = v - np.minimum(np.minimum(r, g), b)
    sat /= np.maximum(v, np.float32(1e-4))
    score = np.clip((v - np.float32(0.35)) * np.float32(2.0), 0.0, 1.0)
    score *= np.float32(1.0) - np.float32(0.7) * sat
    score *= np.float32(strength)
    return np.clip(score, 0.0, 1.0, out=score)


def pack_orm(
    ao: np.ndarray | None, roughness: np.ndarray, metallic: np.ndarray | None = None
) -> np.ndarray:
    """glTF occlusion-roughness-metallic texture (R=AO, G=roughness, B=metallic), HxWx3.

    A missing AO packs as 1 (unoccluded), a missing metallic as 0.
    """
    g = to_gray(roughness)
    out = np.empty((*g.shape, 3), dtype=np.float32)
    out[:, :, 1] = g
    for channel, source, missing in ((0, ao, 1.0), (2, metallic, 0.0)):
        if source is None:
            out[:, :, channel] = missing
            continue
        m = to_gray(source)
        if m.shape != g.shape:
            raise ValueError(
                f"ORM maps must be the same size: roughness is {g.shape[1]}x{g.shape[0]}, "
                f"{'ao' if channel == 0 else 'metallic'} is {m.shape[1]}x{m.shape[0]}"
            )
        out[:, :, channel] = m
    return out


def split_channels(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(red, green, blue, alpha) as HxW arrays; gray fills R, G and B; a missing alpha is 1."""
    a = to_float_image(image)
    c = a.shape[2]
    if c >= 3:
        r, g, b = (np.ascontiguousarray(a[:, :, i]) for i in range(3))
    else:
        r = np.ascontiguousarray(a[:, :, 0])
        g, b = r.copy(), r.copy()
    alpha_index = 3 if c == 4 else 1 if c == 2 else None
    alpha = (
        np.ascontiguousarray(a[:, :, alpha_index])
        if alpha_index is not None
        else np.ones(a.shape[:2], dtype=np.float32)
    )
    return r, g, b, alpha


# ----------------------------------------------------------------------------- the whole set


@dataclass(frozen=True, kw_only=True)
class PBRSettings:
    """The controls of a derivation; defaults suit a photo of a rough, non-metal surface."""

    height_blur: float = 1.0
    height_detail: float = 0.6
    invert_height: bool = False
    normal_strength: float = 2.0
    normal_convention: NormalConvention = "opengl"
    roughness: float = 0.6
    roughness_contrast: float = 0.6
    invert_roughness: bool = False
    metallic_strength: float = 0.0
    ao_strength: float = 1.0
    ao_radius: float = 8.0
    seamless: bool = False


@dataclass(frozen=True)
class PBRMaps:
    base_color: np.ndarray  # HxWx3
    normal: np.ndarray  # HxWx3
    height: np.ndarray  # HxW
    roughness: np.ndarray  # HxW
    metallic: np.ndarray  # HxW
    ao: np.ndarray  # HxW

    def orm(self) -> np.ndarray:
        return pack_orm(self.ao, self.roughness, self.metallic)


def derive_pbr(image: np.ndarray, settings: PBRSettings | None = None) -> PBRMaps:
    """Every map of a PBR material from one base color image."""
    s = settings or PBRSettings()
    if s.normal_convention not in ("opengl", "directx"):
        raise ValueError(f"normal convention must be 'opengl' or 'directx', not {s.normal_convention!r}")
    rgb = to_rgb(image)
    lum = rgb @ _REC709
    roughness = _roughness(lum.copy(), s.roughness, s.roughness_contrast, s.invert_roughness)
    height = _height(lum, s.height_blur, s.height_detail, s.invert_height, s.seamless)
    return PBRMaps(
        base_color=rgb,
        normal=_normal(height, s.normal_strength, s.normal_convention, s.seamless),
        height=height,
        roughness=roughness,
        metallic=_metallic(rgb, s.metallic_strength),
        ao=_ao(height, s.ao_strength, s.ao_radius, s.seamless),
    )
