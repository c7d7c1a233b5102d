"""The in-process backend: model-free workflows (`pbr_from_image`) run here with the node pack's math.

It gives offline users and fresh machines the same lifecycle as a ComfyUI server — queued, running
with progress, completed with library files — without any server. Decoding and math run in a worker
thread so neither the asyncio loop nor the UI stalls on a 4K image.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from automata_desktop.core.generation import Generation
from automata_desktop.core.maps import MapKind
from automata_desktop.errors import WorkflowError
from automata_desktop.jobs.models import GenerationRequest

_SIXTEEN_BIT = {MapKind.HEIGHT, MapKind.NORMAL}
_DIRECT = {"seamless", "normal_convention", "normal_strength", "height_blur", "height_detail",
           "invert_height", "roughness", "roughness_contrast", "invert_roughness",
           "metallic_strength", "ao_strength", "ao_radius"}


def load_image(path: Path) -> np.ndarray:
    """Decode to an HxWxC array, keeping 16-bit precision; corrupt files give a clear error."""
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                return np.asarray(img, dtype=np.uint16 if img.mode != "I" else np.int32).astype(
                    np.uint16, copy=False)
            if img.mode not in ("RGB", "RGBA", "L", "LA"):
                img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
            return np.asarray(img)
    except FileNotFoundError:
        raise WorkflowError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise WorkflowError(f"{path} is not a readable image ({exc})") from exc


def encode_png(array: np.ndarray, *, sixteen_bit: bool = False) -> bytes:
    """Float 0..1 map → PNG bytes (8-bit, or 16-bit for height/normal precision)."""
    a = np.clip(array, 0.0, 1.0)
    if sixteen_bit and a.ndim == 2:
        img = Image.fromarray((a * 65535.0 + 0.5).astype(np.uint16))
    elif sixteen_bit:
        # Pillow cannot write 16-bit RGB; keep 8-bit for color normals (enough for viewing).
        img = Image.fromarray((a * 255.0 + 0.5).astype(np.uint8))
    else:
        img = Image.fromarray((a * 255.0 + 0.5).astype(np.uint8))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _settings(parameters: dict[str, Any]) -> Any:
    from comfy_nodes.pbr_math import PBRSettings

    fields = {f.name: f for f in dataclasses.fields(PBRSettings)}
    values = {k: v for k, v in parameters.items() if k in fields and k in _DIRECT}
    if "normal_convention" in values:  # manifests offer "OpenGL"/"DirectX", the math wants lowercase
        values["normal_convention"] = str(values["normal_convention"]).lower()
    return PBRSettings(**values)


async def run_pbr_from_image(library: Any, gen: Generation, request: GenerationRequest,
                             report: Callable[[float, str], None]) -> None:
    from comfy_nodes.pbr_math import derive_pbr

    if request.image is None:
        raise WorkflowError("pbr_from_image needs an image: pass --image FILE")
    loop = asyncio.get_running_loop()

    def progress(fraction: float, label: str) -> None:
        loop.call_soon_threadsafe(report, fraction, label)

    def work() -> list[tuple[MapKind, bytes]]:
        progress(0.05, "Load image")
        image = load_image(request.image)  # type: ignore[arg-type]
        progress(0.25, "Derive PBR maps")
        maps = derive_pbr(image, _settings(request.parameters))
        out = []
        items = [(MapKind.BASE_COLOR, maps.base_color), (MapKind.NORMAL, maps.normal),
                 (MapKind.HEIGHT, maps.height), (MapKind.ROUGHNESS, maps.roughness),
                 (MapKind.METALLIC, maps.metallic), (MapKind.AO, maps.ao),
                 (MapKind.ORM, maps.orm())]
        for index, (kind, array) in enumerate(items):
            progress(0.6 + 0.35 * index / len(items), f"Encode {kind.value}")
            out.append((kind, encode_png(array, sixteen_bit=kind in _SIXTEEN_BIT)))
        return out

    encoded = await asyncio.to_thread(work)
    stem = request.image.stem if request.image else "pbr"
    for kind, data in encoded:
        await asyncio.to_thread(library.store_file, gen.id, kind, data, f"{stem}_{kind.value}.png")
    report(1.0, "Done")
