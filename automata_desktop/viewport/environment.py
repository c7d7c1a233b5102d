"""Image-based lighting from the bundled equirectangular HDRIs.

VTK convolves the environment on the CPU under llvmpipe (no GPU here or on many users' laptops);
the cost grows with the environment's size, so it is resampled down first: the bundled 512x256 map
at 0.5 lights the first frame in about a second, where a full-size cubemap takes minutes.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import pyvista as pv
from vtkmodules.vtkIOImage import vtkHDRReader

from automata_desktop.paths import resources_dir

#: Fraction of the HDRI's resolution the irradiance/prefilter maps are computed from.
DEFAULT_RESAMPLE = 0.5


class Environment(StrEnum):
    STUDIO = "studio"
    SKY = "sky"

    @property
    def path(self) -> Path:
        return resources_dir() / "hdri" / f"{self.value}.hdr"


def read_hdri(path: str | Path) -> pv.Texture:
    """A mipmapped, linear (not sRGB) texture from a Radiance .hdr file."""
    reader = vtkHDRReader()
    reader.SetFileName(str(path))
    if not reader.CanReadFile(str(path)):
        raise ValueError(f"{path} is not a Radiance .hdr image")
    reader.Update()
    texture = pv.Texture(reader.GetOutput())
    texture.mipmap = True
    texture.interpolate = True
    return texture


def apply_environment(
    renderer: pv.Renderer,
    environment: Environment | str | Path = Environment.STUDIO,
    *,
    resample: float = DEFAULT_RESAMPLE,
) -> None:
    """Light `renderer`'s PBR actors from an HDRI (the background is left alone: it stays dark)."""
    path = environment.path if isinstance(environment, Environment) else Path(environment)
    renderer.set_environment_texture(read_hdri(path), is_srgb=False, resample=resample)
