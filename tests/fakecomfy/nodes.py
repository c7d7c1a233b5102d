"""Core and probe nodes the fake really runs, written the way ComfyUI 0.3.64 writes them.

IMAGE values are numpy float32 arrays ``[B, H, W, C]`` in 0..1 (ComfyUI passes torch tensors
of the same shape; torch is not installed here), MASK is ``[B, H, W]``. Input schemas are taken
from the recorded ``/object_info`` so validation errors quote exactly what the real server quotes.
The ``Probe*`` nodes are the small test nodes installed for the recording (not part of ComfyUI).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import time
import urllib.request
from typing import Any, ClassVar

import numpy as np
from PIL import Image, ImageOps, ImageSequence
from PIL.PngImagePlugin import PngInfo

from . import shims
from .registry import recorded


class Recorded:
    """Schema (inputs, outputs, output flag) copied from the recorded ``/object_info``."""

    RECORDED_NAME: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        info = recorded(cls.RECORDED_NAME)
        cls.RETURN_TYPES = tuple(info["output"])
        cls.RETURN_NAMES = tuple(info["output_name"])
        cls.OUTPUT_NODE = info["output_node"]
        cls.CATEGORY = info["category"]

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return copy.deepcopy(recorded(cls.RECORDED_NAME)["input"])


def to_pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(255.0 * image, 0, 255).astype(np.uint8))


def to_array(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.float32)[None] / 255.0


class EmptyImage(Recorded):
    RECORDED_NAME = "EmptyImage"
    FUNCTION = "generate"

    def generate(self, width: int, height: int, batch_size: int = 1, color: int = 0) -> tuple:
        rgb = [((color >> 16) & 0xFF) / 0xFF, ((color >> 8) & 0xFF) / 0xFF, (color & 0xFF) / 0xFF]
        image = np.empty((batch_size, height, width, 3), dtype=np.float32)
        image[...] = np.asarray(rgb, dtype=np.float32)
        return (image,)


class LoadImage(Recorded):
    RECORDED_NAME = "LoadImage"
    FUNCTION = "load_image"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        input_dir = shims.get_input_directory()
        files = [f for f in os.listdir(input_dir) if os.path.isfile(os.path.join(input_dir, f))]
        files = shims.filter_files_content_types(files, ["image"])
        return {"required": {"image": [sorted(files), {"image_upload": True}]}}

    def load_image(self, image: str) -> tuple:
        img = Image.open(shims.get_annotated_filepath(image))
        images, masks = [], []
        for frame in ImageSequence.Iterator(img):
            frame = ImageOps.exif_transpose(frame)
            rgb = frame.convert("RGB")
            if images and rgb.size != (images[0].shape[2], images[0].shape[1]):
                continue
            images.append(to_array(rgb))
            if "A" in frame.getbands():
                alpha = np.asarray(frame.getchannel("A"), dtype=np.float32) / 255.0
                masks.append((1.0 - alpha)[None])
            else:
                masks.append(np.zeros((1, 64, 64), dtype=np.float32))
        return (np.concatenate(images), np.concatenate(masks) if len(masks) > 1 else masks[0])

    @classmethod
    def IS_CHANGED(cls, image: str) -> str:
        with open(shims.get_annotated_filepath(image), "rb") as f:
            return hashlib.sha256(f.read()).digest().hex()

    @classmethod
    def VALIDATE_INPUTS(cls, image: str) -> bool | str:
        if not shims.exists_annotated_filepath(image):
            return f"Invalid image file: {image}"
        return True


class ImageInvert(Recorded):
    RECORDED_NAME = "ImageInvert"
    FUNCTION = "invert"

    def invert(self, image: np.ndarray) -> tuple:
        return (1.0 - image,)


class ImageScale(Recorded):
    RECORDED_NAME = "ImageScale"
    FUNCTION = "upscale"
    METHODS: ClassVar[dict[str, int]] = {
        "nearest-exact": Image.Resampling.NEAREST,
        "bilinear": Image.Resampling.BILINEAR,
        "area": Image.Resampling.BOX,
        "bicubic": Image.Resampling.BICUBIC,
        "lanczos": Image.Resampling.LANCZOS,
    }

    def upscale(self, image: np.ndarray, upscale_method: str, width: int, height: int, crop: str) -> tuple:
        if width == 0 and height == 0:
            return (image,)
        _, old_h, old_w, _ = image.shape
        width = width or max(1, round(old_w * height / old_h))
        height = height or max(1, round(old_h * width / old_w))
        out = []
        for frame in image:
            img = to_pil(frame)
            if crop == "center":
                img = ImageOps.fit(img, (width, height), self.METHODS[upscale_method])
            else:
                img = img.resize((width, height), self.METHODS[upscale_method])
            out.append(to_array(img))
        return (np.concatenate(out),)


class SaveImage(Recorded):
    RECORDED_NAME = "SaveImage"
    FUNCTION = "save_images"

    def __init__(self) -> None:
        self.output_dir = shims.get_output_directory()
        self.type = "output"
        self.prefix_append = ""
        self.compress_level = 4

    def save_images(
        self,
        images: np.ndarray,
        filename_prefix: str = "ComfyUI",
        prompt: Any = None,
        extra_pnginfo: Any = None,
    ) -> dict:
        filename_prefix += self.prefix_append
        folder, filename, counter, subfolder, _ = shims.get_save_image_path(
            filename_prefix, self.output_dir, images[0].shape[1], images[0].shape[0]
        )
        results = []
        for batch_number, image in enumerate(images):
            metadata = PngInfo()
            if prompt is not None:
                metadata.add_text("prompt", json.dumps(prompt))
            if extra_pnginfo is not None:
                for key in extra_pnginfo:
                    metadata.add_text(key, json.dumps(extra_pnginfo[key]))
            name = filename.replace("%batch_num%", str(batch_number))
            file = f"{name}_{counter:05}_.png"
            to_pil(image).save(
                os.path.join(folder, file), pnginfo=metadata, compress_level=self.compress_level
            )
            results.append(image_entry(file, subfolder, self.type, image))
            counter += 1
        return {"ui": {"images": results}}


def image_entry(filename: str, subfolder: str, kind: str, image: np.ndarray) -> dict[str, Any]:
    entry: dict[str, Any] = {"filename": filename, "subfolder": subfolder, "type": kind}
    if shims.RUNTIME.output_metadata:
        # Newer servers (PR #15417) describe each output file; 0.3.64 does not.
        entry["metadata"] = {"kind": "image", "width": image.shape[1], "height": image.shape[0]}
    return entry


def temp_prefix() -> str:
    return "_temp_" + "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))


class PreviewImage(SaveImage):
    RECORDED_NAME = "PreviewImage"

    def __init__(self) -> None:
        self.output_dir = shims.get_temp_directory()
        self.type = "temp"
        self.prefix_append = temp_prefix()
        self.compress_level = 1


class SaveImageWebsocket(Recorded):
    """Ships with ComfyUI: the images exist only as binary preview frames, no ``executed``."""

    RECORDED_NAME = "SaveImageWebsocket"
    FUNCTION = "save_images"

    def save_images(self, images: np.ndarray) -> dict:
        pbar = shims.ProgressBar(images.shape[0])
        for step, image in enumerate(images):
            pbar.update_absolute(step, images.shape[0], ("PNG", to_pil(image), None))
        return {}

    @classmethod
    def IS_CHANGED(cls, images: Any = None) -> float:
        return time.time()


class GetImageSize(Recorded):
    RECORDED_NAME = "GetImageSize"
    FUNCTION = "execute"

    def execute(self, image: np.ndarray, unique_id: str | None = None) -> tuple:
        batch, height, width = image.shape[0], image.shape[1], image.shape[2]
        if unique_id:
            shims.RUNTIME.server.send_progress_text(
                f"width: {width}, height: {height}\n batch size: {batch}", unique_id
            )
        return (width, height, batch)


class PreviewAny(Recorded):
    RECORDED_NAME = "PreviewAny"
    FUNCTION = "main"

    def main(self, source: Any = None) -> dict:
        value = "None"
        if isinstance(source, str):
            value = source
        elif isinstance(source, (int, float, bool)):
            value = str(source)
        elif source is not None:
            try:
                value = json.dumps(source)
            except Exception:
                value = str(source)
        return {"ui": {"text": (value,)}}


class ProbeSlowProgress(Recorded):
    """Sleeps per step and reports ``ProgressBar`` progress, optionally with a JPEG preview.

    It stands in for a sampler: on servers newer than 0.3.64 its previews, like latent previews,
    are only sent when the prompt asks for them with ``extra_data.preview_method``.
    """

    RECORDED_NAME = "ProbeSlowProgress"
    FUNCTION = "run"

    def run(self, images: np.ndarray, steps: int, delay_s: float, send_preview: bool = False) -> tuple:
        pbar = shims.ProgressBar(steps)
        preview = to_pil(images[0])
        for i in range(steps):
            time.sleep(delay_s * shims.RUNTIME.time_scale)
            wanted = send_preview and shims.RUNTIME.latent_previews
            pbar.update_absolute(i + 1, steps, ("JPEG", preview, 512) if wanted else None)
        return (images,)

    @classmethod
    def IS_CHANGED(cls, **kwargs: Any) -> float:
        return math.nan


class ProbeRaise(Recorded):
    RECORDED_NAME = "ProbeRaise"
    FUNCTION = "run"

    def run(self, images: np.ndarray, message: str) -> tuple:
        raise RuntimeError(message)


class ProbeHttpPost(SaveImage):
    """Saves PNGs and POSTs a JSON description of the IMAGE it received to ``url``."""

    RECORDED_NAME = "ProbeHttpPost"
    FUNCTION = "run"

    def run(
        self,
        images: np.ndarray,
        url: str,
        filename_prefix: str,
        note: str = "",
        prompt: Any = None,
        extra_pnginfo: Any = None,
        unique_id: str | None = None,
    ) -> dict:
        saved = self.save_images(images, filename_prefix, prompt, extra_pnginfo)["ui"]["images"]
        body = json.dumps(
            {
                "node": "ProbeHttpPost",
                "unique_id": unique_id,
                "note": note,
                "image": {"shape": list(images.shape), "dtype": str(images.dtype)},
                "saved": saved,
                "extra_pnginfo": extra_pnginfo,
            }
        ).encode()
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            status, text = response.status, response.read().decode("utf-8", "replace")
        probe = {
            "url": url,
            "http_status": status,
            "response": text,
            "shape": list(images.shape),
            "dtype": str(images.dtype),
        }
        return {"ui": {"images": saved, "probe": [probe]}}


class ProbeV3Invert(Recorded):
    RECORDED_NAME = "ProbeV3Invert"
    FUNCTION = "execute"

    def execute(self, image: np.ndarray, amount: float) -> tuple:
        return (image * (1.0 - amount) + (1.0 - image) * amount,)


class ProbeV3Preview(PreviewImage):
    RECORDED_NAME = "ProbeV3Preview"
    FUNCTION = "execute"

    def __init__(self) -> None:
        super().__init__()
        self.prefix_append = ""

    def execute(self, images: np.ndarray) -> dict:
        # V3 ui.PreviewImage: a random "ComfyUI_temp_xxxxx" prefix per call, plus "animated".
        prefix = "ComfyUI" + temp_prefix()
        ui = self.save_images(images, prefix)["ui"]
        return {"ui": {"images": ui["images"], "animated": [False]}}


IMPLEMENTED: dict[str, type] = {
    cls.RECORDED_NAME: cls
    for cls in (
        EmptyImage,
        LoadImage,
        ImageInvert,
        ImageScale,
        SaveImage,
        PreviewImage,
        SaveImageWebsocket,
        GetImageSize,
        PreviewAny,
        ProbeSlowProgress,
        ProbeRaise,
        ProbeHttpPost,
        ProbeV3Invert,
        ProbeV3Preview,
    )
}
