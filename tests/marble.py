"""A light cream marble base colour, made with numpy: what an AI texturing model returns for
"white marble", with no other maps (so the app derives AO, roughness, normal and height)."""

from __future__ import annotations

import numpy as np

CREAM = (236, 228, 210)
VEIN = (150, 148, 145)


def cream_marble(size: int = 512, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(HxWx3 uint8 base colour, HxW bool mask of the vein cores): thin grey veins that wander
    diagonally over a flat cream ground."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    turbulence = np.zeros((size, size))
    for octave in range(1, 6):
        a, b = rng.uniform(0.5, 1.5, 2)
        turbulence += np.sin(2 * np.pi * 2 ** octave * (a * x + b * y)
                             + rng.uniform(0, 2 * np.pi)) / 2 ** octave
    distance = np.abs(np.sin(2 * np.pi * (3 * x + 2 * y + 0.8 * turbulence)))
    vein = np.exp(-(distance / 0.04) ** 2)[..., None]
    rgb = np.asarray(CREAM, float) * (1 - vein) + np.asarray(VEIN, float) * vein
    return rgb.round().astype(np.uint8), vein[..., 0] > 0.5
