"""Generate the bundled environment maps: equirectangular Radiance .hdr files, Y up.

Deterministic and dependency-light (numpy only). Run from the repo root:

    .venv/bin/python resources/hdri/make_hdri.py

`studio.hdr` is a dark room with two soft boxes and a rim strip (the default lighting: neutral, it
shows roughness well); `sky.hdr` is a clear sky with a warm sun over a brown ground.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT = 512, 256


def directions(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Unit view direction per texel, (height, width, 3); row 0 looks straight up (+Y)."""
    phi = (np.arange(width) + 0.5) / width * 2 * np.pi - np.pi  # longitude, -pi..pi
    theta = (np.arange(height) + 0.5) / height * np.pi  # polar angle from +Y
    phi, theta = np.meshgrid(phi, theta, indexing="xy")
    return np.dstack([np.sin(theta) * np.sin(phi), np.cos(theta), -np.sin(theta) * np.cos(phi)])


def _lobe(d: np.ndarray, toward: tuple[float, float, float], sharpness: float) -> np.ndarray:
    axis = np.asarray(toward, dtype=float)
    axis /= np.linalg.norm(axis)
    return np.exp(sharpness * (np.clip(d @ axis, -1.0, 1.0) - 1.0))


def studio() -> np.ndarray:
    d = directions()
    up = d[..., 1]
    base = 0.08 + 0.10 * np.clip(up, 0.0, 1.0)
    radiance = np.repeat(base[..., None], 3, axis=2) * np.array([1.0, 1.0, 1.05])
    key = _lobe(d, (-0.6, 0.7, 0.6), 30.0) * 4.0
    fill = _lobe(d, (0.8, 0.3, 0.5), 25.0) * 3.0
    rim = _lobe(d, (0.1, 0.4, -1.0), 40.0) * 3.0
    radiance += key[..., None] * np.array([1.0, 0.97, 0.92])
    radiance += fill[..., None] * np.array([0.85, 0.92, 1.0])
    radiance += rim[..., None]
    return radiance


def sky() -> np.ndarray:
    d = directions()
    up = d[..., 1]
    zenith, horizon = np.array([0.18, 0.35, 0.85]), np.array([0.75, 0.82, 0.95])
    t = np.clip(up, 0.0, 1.0)[..., None] ** 0.5
    above = horizon * (1 - t) + zenith * t
    ground = np.array([0.16, 0.12, 0.09]) * (1.0 - 0.5 * np.clip(-up, 0, 1))[..., None]
    radiance = np.where(up[..., None] >= 0, above * 1.2, ground)
    sun = _lobe(d, (0.5, 0.55, 0.65), 2500.0) * 600.0 + _lobe(d, (0.5, 0.55, 0.65), 40.0) * 1.5
    return radiance + sun[..., None] * np.array([1.0, 0.92, 0.8])


def to_rgbe(rgb: np.ndarray) -> np.ndarray:
    """Float RGB → Radiance RGBE bytes: a shared exponent and three 8-bit mantissas."""
    brightest = rgb.max(axis=2)
    mantissa, exponent = np.frexp(brightest)
    scale = np.where(brightest > 1e-32, mantissa * 256.0 / np.maximum(brightest, 1e-32), 0.0)
    out = np.zeros((*rgb.shape[:2], 4), dtype=np.uint8)
    out[..., :3] = np.clip(rgb * scale[..., None], 0, 255).astype(np.uint8)
    out[..., 3] = np.where(brightest > 1e-32, exponent + 128, 0).astype(np.uint8)
    return out


def write_hdr(path: Path, rgb: np.ndarray) -> None:
    """Flat (uncompressed) Radiance scanlines: every reader, vtkHDRReader included, takes them."""
    height, width = rgb.shape[:2]
    header = f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {height} +X {width}\n".encode("ascii")
    path.write_bytes(header + to_rgbe(rgb).tobytes())


def main() -> None:
    write_hdr(HERE / "studio.hdr", studio())
    write_hdr(HERE / "sky.hdr", sky())
    print(f"wrote {HERE / 'studio.hdr'} and {HERE / 'sky.hdr'}")


if __name__ == "__main__":
    main()
