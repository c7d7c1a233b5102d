"""Image-based lighting from an equirectangular HDRI: a bundled one or the user's own .hdr/.exr.

VTK convolves the environment on the CPU under llvmpipe (no GPU here or on many users' laptops);
the cost grows with the environment's size, so it is resampled down first: the bundled 512x256 map
at 0.5 lights the first frame in about a second, where a full-size cubemap takes minutes.

`LightingView` turns a `Lighting` value into renderer state. Rotation and the up axis only move
the environment's frame (SetEnvironmentUp/Right: no new convolution); exposure scales the HDRI's
radiance, which needs a new convolution, so it is applied when the user lets go of the slider.

Exposure 0 is calibrated, not the file's raw scale: HDRIs come at any absolute level (the bundled
studio lit a white card at 46 %, so a cream material read grey; a photographed sun reaches
thousands), so every HDRI is scaled for a white diffuse surface facing its brightest side to
read white (irradiance/π = 1, as a uniform environment of radiance 1 gives). Stops count from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import pyvista as pv
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkIOImage import vtkHDRReader
from vtkmodules.vtkRenderingCore import vtkSkybox

from automata_desktop.errors import AutomataError
from automata_desktop.paths import resources_dir

#: Fraction of the HDRI's resolution the irradiance/prefilter maps are computed from.
DEFAULT_RESAMPLE = 0.5
HDRI_SUFFIXES = (".hdr", ".exr")


class LightingError(AutomataError):
    """An environment image could not be read."""


class Environment(StrEnum):
    STUDIO = "studio"
    SKY = "sky"

    @property
    def path(self) -> Path:
        return resources_dir() / "hdri" / f"{self.value}.hdr"


def bundled_hdris() -> tuple[str, ...]:
    """Names of the HDRIs shipped in resources/hdri (studio first)."""
    names = sorted(p.stem for p in (resources_dir() / "hdri").glob("*.hdr"))
    return tuple(sorted(names, key=lambda n: n != Environment.STUDIO.value))


def hdri_path(hdri: str | Path) -> Path:
    """A bundled name ("studio") or the path of the user's file."""
    bundled = resources_dir() / "hdri" / f"{hdri}.hdr"
    return bundled if str(hdri) in bundled_hdris() else Path(hdri)


@dataclass(frozen=True)
class Lighting:
    hdri: str = Environment.STUDIO.value  # a bundled name or a path to .hdr/.exr
    rotation: float = 0.0  # degrees about the scene's up axis
    exposure: float = 0.0  # stops: +1 doubles the light
    background: bool = False  # show the HDRI behind the model instead of the gradient


def read_hdri(path: str | Path, exposure: float = 0.0) -> pv.Texture:
    """A mipmapped, linear (not sRGB) texture from a Radiance .hdr or OpenEXR file, calibrated
    (see the module's docstring) and then scaled by `exposure` stops."""
    path = Path(path)
    if not path.is_file():
        raise LightingError(f"Cannot light the scene with {path.name}: the file does not exist")
    if path.suffix.lower() == ".exr":
        image = _read_exr(path)
    else:
        reader = vtkHDRReader()
        reader.SetFileName(str(path))
        if not reader.CanReadFile(str(path)):
            raise LightingError(f"{path.name} is not a Radiance .hdr image (use an .hdr or .exr "
                                "equirectangular HDRI)")
        reader.Update()
        image = reader.GetOutput()
    width, height, _ = image.GetDimensions()
    radiance = vtk_to_numpy(image.GetPointData().GetScalars()).astype(np.float32)[:, :3]
    peak = peak_irradiance(radiance.reshape(height, width, 3))
    radiance *= np.float32(2.0 ** exposure / peak if peak > 1e-6 else 2.0 ** exposure)
    image = _float_image(radiance, image.GetDimensions())
    texture = pv.Texture(image)
    texture.mipmap = True
    texture.interpolate = True
    return texture


def peak_irradiance(radiance: np.ndarray, *, size: int = 32) -> float:
    """The largest irradiance/π a surface gets from an equirectangular HxWx3 linear map.

    Brute force on a block-averaged copy (at most `size` x 2·`size` texels; block means keep a
    small sun's energy) for normals on a grid half as fine (irradiance is smooth); the maximum
    over a sphere of normals does not depend on which way the map is flipped or turned.
    """
    h, w = radiance.shape[:2]
    fh, fw = max(1, h // size), max(1, w // (2 * size))
    rows, cols = h // fh, w // fw
    blocks = radiance[: rows * fh, : cols * fw].reshape(rows, fh, cols, fw, -1)
    luminance = blocks.mean(axis=(1, 3), dtype=np.float64) @ (0.2126, 0.7152, 0.0722)
    texels, theta = _directions(rows, cols)
    solid_angle = np.sin(theta) * (np.pi / rows) * (2.0 * np.pi / cols)
    normals, _ = _directions(max(1, rows // 2), max(1, cols // 2))
    cosines = np.clip(normals @ texels.T, 0.0, None)
    return float((cosines @ (luminance.reshape(-1) * solid_angle)).max() / np.pi)


def _directions(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors at the texel centres of a rows x cols equirectangular grid, and their polar
    angles (both flattened, row by row)."""
    theta, phi = np.meshgrid((np.arange(rows) + 0.5) / rows * np.pi,
                             (np.arange(cols) + 0.5) / cols * 2.0 * np.pi, indexing="ij")
    theta, phi = theta.reshape(-1), phi.reshape(-1)
    sin = np.sin(theta)
    return np.stack([sin * np.cos(phi), np.cos(theta), sin * np.sin(phi)], -1), theta


def _read_exr(path: Path) -> vtkImageData:
    try:
        import OpenEXR
    except ImportError:
        raise LightingError(f"Cannot read {path.name}: OpenEXR support is not installed (pip "
                            "install openexr), or convert it to .hdr") from None
    try:
        with OpenEXR.File(str(path)) as exr:
            channels = exr.channels()
            rgb = channels.get("RGB") or channels.get("RGBA")
            if rgb is not None:
                pixels = np.asarray(rgb.pixels, np.float32)[..., :3]
            else:
                pixels = np.stack([np.asarray(channels[c].pixels, np.float32) for c in "RGB"], -1)
    except (OSError, KeyError, RuntimeError) as exc:
        raise LightingError(f"Cannot read {path.name}: not a readable OpenEXR image ({exc})") \
            from exc
    height, width = pixels.shape[:2]
    return _float_image(np.ascontiguousarray(pixels[::-1]).reshape(-1, 3), (width, height, 1))


def _float_image(pixels: np.ndarray, dimensions: tuple[int, int, int]) -> vtkImageData:
    image = vtkImageData()
    image.SetDimensions(*dimensions)
    array = numpy_to_vtk(np.ascontiguousarray(pixels), deep=True)
    image.GetPointData().SetScalars(array)
    return image


def apply_environment(
    renderer: pv.Renderer,
    environment: Environment | str | Path = Environment.STUDIO,
    *,
    resample: float = DEFAULT_RESAMPLE,
) -> None:
    """Light `renderer`'s PBR actors from an HDRI (the background is left alone: it stays dark)."""
    path = environment.path if isinstance(environment, Environment) else Path(environment)
    renderer.set_environment_texture(read_hdri(path), is_srgb=False, resample=resample)


class LightingView:
    """Keeps a renderer's image-based lighting in step with a `Lighting` and the scene's axes."""

    def __init__(self, renderer: pv.Renderer, *, resample: float = DEFAULT_RESAMPLE) -> None:
        self._renderer = renderer
        self._resample = resample
        self._loaded: tuple[str, float] | None = None
        self._texture: pv.Texture | None = None
        self._skybox: vtkSkybox | None = None
        self.lighting = Lighting()
        self.environment_up: tuple[float, ...] = (0.0, 1.0, 0.0)
        self.environment_right: tuple[float, ...] = (1.0, 0.0, 0.0)

    def apply(self, lighting: Lighting, up: tuple[float, float, float] = (0.0, 1.0, 0.0),
              front: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> None:
        """Raises LightingError (the previous lighting stays) if the HDRI cannot be read."""
        key = (str(hdri_path(lighting.hdri)), lighting.exposure)
        if key != self._loaded:
            texture = read_hdri(key[0], lighting.exposure)
            self._renderer.set_environment_texture(texture, is_srgb=False,
                                                   resample=self._resample)
            self._texture, self._loaded = texture, key
            self._drop_skybox()
        self.lighting = lighting
        up_v, front_v = np.asarray(up, float), np.asarray(front, float)
        angle = math.radians(lighting.rotation)
        right = np.cross(up_v, front_v) * math.cos(angle) + front_v * math.sin(angle)
        self._renderer.SetEnvironmentUp(*up_v)
        self._renderer.SetEnvironmentRight(*right)
        # (VTK's Python wrapping returns a bare pointer from GetEnvironmentUp/Right: kept here.)
        self.environment_up, self.environment_right = tuple(up_v), tuple(right)
        if lighting.background and self._skybox is None and self._texture is not None:
            self._skybox = vtkSkybox()
            self._skybox.SetTexture(self._texture)
            self._skybox.SetProjectionToSphere()
            self._skybox.GammaCorrectOn()
            self._renderer.AddActor(self._skybox)
        elif not lighting.background:
            self._drop_skybox()
        if self._skybox is not None:
            self._skybox.SetFloorPlane(*up_v, 0.0)
            self._skybox.SetFloorRight(*right)

    @property
    def applied(self) -> bool:
        """Whether an HDRI lights the renderer yet (`lighting` may be pending before that)."""
        return self._loaded is not None

    @property
    def skybox(self) -> vtkSkybox | None:
        return self._skybox

    def _drop_skybox(self) -> None:
        if self._skybox is not None:
            self._renderer.RemoveActor(self._skybox)
            self._skybox = None
