"""Large test assets made on the fly (never committed): a 1M-triangle mesh and a 4K map set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

MAP_NAMES = ("basecolor", "normal", "roughness", "metallic", "ao")


def grid_mesh(path: Path, triangles: int = 1_000_000) -> Path:
    """A gently waving UV-mapped sheet of about `triangles` triangles, saved as GLB."""
    n = int(np.ceil(np.sqrt(triangles / 2)))
    u, v = np.meshgrid(np.linspace(0, 1, n + 1, dtype=np.float32),
                       np.linspace(0, 1, n + 1, dtype=np.float32))
    z = 0.05 * np.sin(u * 12) * np.cos(v * 9)
    vertices = np.stack([u - 0.5, v - 0.5, z], -1).reshape(-1, 3)
    idx = np.arange((n + 1) * (n + 1)).reshape(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    faces = np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3),
                            np.stack([a, d, c], -1).reshape(-1, 3)])
    uv = np.stack([u, v], -1).reshape(-1, 2)
    mesh = trimesh.Trimesh(vertices, faces, process=False,
                           visual=trimesh.visual.TextureVisuals(uv=uv))
    mesh.export(path)
    return path


def map_set(folder: Path, size: int = 4096) -> Path:
    """Five maps (base colour, normal, roughness, metallic, AO) of `size`², fast to encode."""
    folder.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    x, y = np.meshgrid(ramp, ramp)
    tiles = ((np.floor(x / 32) + np.floor(y / 32)) % 2).astype(np.float32)
    gray = (x * 0.5 + tiles * 80).astype(np.uint8)
    images = {
        "basecolor": np.stack([gray, (y * 0.8).astype(np.uint8), np.full_like(gray, 140)], -1),
        "normal": np.stack([np.full_like(gray, 128), np.full_like(gray, 128),
                            np.full_like(gray, 255)], -1),
        "roughness": gray, "metallic": (tiles * 255).astype(np.uint8),
        "ao": np.full_like(gray, 230),
    }
    for name in MAP_NAMES:
        Image.fromarray(images[name]).save(folder / f"big_{name}.png", compress_level=1)
    return folder
