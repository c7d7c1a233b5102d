"""`pbr_from_image` gives the same files whether it runs in-process or on a ComfyUI with our nodes.

A user who generates offline and later on a server (or the other way round) must get the same
library: the same maps, named alike, at the same bit depth, with the same pixels. The ComfyUI side
is the test ComfyUI running the real node pack on the shipped workflow graph.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkIOImage import vtkPNGReader

from automata_desktop.config import LOCAL_SERVER
from automata_desktop.core.generation import Generation, GenerationStatus
from automata_desktop.core.maps import MapKind
from automata_desktop.paths import resources_dir
from automata_desktop.runtime import load_workflow_named
from tests.engine_helpers import request, running_engine

pytestmark = pytest.mark.asyncio

ALL_MAPS = {MapKind.BASE_COLOR, MapKind.NORMAL, MapKind.HEIGHT, MapKind.ROUGHNESS,
            MapKind.METALLIC, MapKind.AO, MapKind.ORM}
#: Away from every default, so a control the in-process path ignored would show in the pixels.
PARAMETERS = {"normal_strength": 3.5, "normal_convention": "DirectX", "height_blur": 2.0,
              "height_detail": 0.4, "invert_height": True, "roughness": 0.45,
              "roughness_contrast": 1.2, "metallic_strength": 0.5, "ao_strength": 2.0,
              "ao_radius": 5.0, "seamless": True}


@pytest.fixture(params=["rgb", "rgba turned by exif"])
def photo(request, tmp_path: Path) -> Path:
    """A non-square crop of the sample (so a swapped axis shows), small enough to run quickly;
    also as a phone might save it: with alpha, and an EXIF tag saying "rotate 90°"."""
    path = tmp_path / "wall photo.png"
    with Image.open(resources_dir() / "samples" / "sample_basecolor.png") as image:
        crop = image.crop((100, 200, 356, 392))
    if request.param == "rgb":
        crop.save(path)
        return path
    crop.putalpha(Image.linear_gradient("L").resize(crop.size))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the stored pixels are to be turned 90° clockwise
    crop.save(path, exif=exif)
    return path


async def _generate(tmp_path: Path, server: str, image: Path) -> Generation:
    async with running_engine(tmp_path) as engine:
        [gen] = await engine.submit(request(load_workflow_named("pbr_from_image"), server,
                                            image=image, parameters=dict(PARAMETERS)))
        [done] = await engine.wait([gen.id], timeout=60)
    assert done.status is GenerationStatus.COMPLETED, done.error
    return done


def _name_pattern(gen: Generation, path: Path) -> str:
    """The stored name with this generation's id written as `{gen}` and the library's `-N`
    (added when a name is taken) dropped: what two runs of one workflow must share."""
    short = re.sub(r"[^A-Za-z0-9]", "", gen.id)[:8]
    return re.sub(r"-\d+(\.png)$", r"\1", path.name).replace(short, "{gen}")


def _bit_depth(path: Path) -> int:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return data[24]


def _pixels(path: Path) -> np.ndarray:
    """VTK's PNG reader, which (unlike Pillow) keeps 16-bit RGB at 16 bits."""
    reader = vtkPNGReader()
    reader.SetFileName(str(path))
    reader.Update()
    image = reader.GetOutput()
    width, height, _ = image.GetDimensions()
    return vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)[::-1]


async def test_in_process_and_comfyui_runs_of_pbr_from_image_store_the_same_files(
        fake_comfy, tmp_path, photo):
    local = await _generate(tmp_path / "offline", LOCAL_SERVER, photo)
    served = await _generate(tmp_path / "served", fake_comfy.url, photo)
    mine = {f.kind: f.path for f in local.files}
    theirs = {f.kind: f.path for f in served.files}

    assert set(mine) == set(theirs) == ALL_MAPS and len(local.files) == len(served.files)
    names = {kind: _name_pattern(local, path) for kind, path in mine.items()}
    assert names == {kind: _name_pattern(served, path) for kind, path in theirs.items()}
    assert all("{gen}" in name for name in names.values())  # each run's files are its own
    depths = {kind: _bit_depth(path) for kind, path in mine.items()}
    assert depths == {kind: _bit_depth(path) for kind, path in theirs.items()}
    assert depths[MapKind.NORMAL] == depths[MapKind.HEIGHT] == 16
    for kind in ALL_MAPS:
        # Exactly equal: both sides hand the node pack the same float32 IMAGE (the loader's
        # uint8 / 255), run the same node code on it and encode with the same function.
        assert np.array_equal(_pixels(mine[kind]), _pixels(theirs[kind])), kind
    assert {k: p.read_bytes() for k, p in mine.items()} == \
        {k: p.read_bytes() for k, p in theirs.items()}  # and therefore byte for byte
