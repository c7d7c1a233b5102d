"""Reading a workflow the way users bring one: an API or UI JSON file, or an image ComfyUI saved.

ComfyUI's SaveImage writes two PNG text chunks: `prompt` (the API graph it ran) and `workflow`
(the UI graph). Its WebP writer puts the same two in EXIF: tag 0x0110 (Model) holds
`prompt:<json>` and 0x010F (Make) `workflow:<json>`. When both are there the API prompt wins:
it is exactly what ran, with no conversion to get wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from automata_desktop.core.ui_workflow import is_ui_workflow
from automata_desktop.errors import WorkflowError

IMAGE_SUFFIXES = frozenset({".png", ".webp"})
_EXIF_MAKE, _EXIF_MODEL = 0x010F, 0x0110


@dataclass(frozen=True, slots=True)
class WorkflowFile:
    """What a file holds: the API graph, the UI graph, or both."""

    path: Path
    api: dict[str, Any] | None
    ui: dict[str, Any] | None

    @property
    def kind(self) -> str:
        if self.path.suffix.lower() in IMAGE_SUFFIXES:
            return "image"
        return "api" if self.api is not None else "ui"


def read_workflow_file(path: Path) -> WorkflowFile:
    """Sniff `path`; raises WorkflowError naming what was wrong and what the file should be."""
    if not path.is_file():
        raise WorkflowError(f"workflow file not found: {path}")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _from_image(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise WorkflowError(f"{path.name} is not a text file; expected a ComfyUI workflow .json "
                            "or a .png/.webp ComfyUI saved") from None
    except json.JSONDecodeError as exc:
        raise WorkflowError(f"{path.name} is not valid JSON (line {exc.lineno}, column "
                            f"{exc.colno}: {exc.msg})") from None
    except OSError as exc:
        raise WorkflowError(f"cannot read {path}: {exc.strerror or exc}") from None
    return _from_json(path, data)


def _from_json(path: Path, data: Any) -> WorkflowFile:
    if is_ui_workflow(data):
        return WorkflowFile(path, None, data)
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict):
        # A saved POST /prompt body; its extra_pnginfo may carry the UI graph too.
        ui = ((data.get("extra_data") or {}).get("extra_pnginfo") or {}).get("workflow")
        return WorkflowFile(path, data["prompt"], ui if is_ui_workflow(ui) else None)
    if _looks_like_api(data):
        return WorkflowFile(path, data, None)
    raise WorkflowError(f"{path.name} is JSON but not a ComfyUI workflow (neither the UI format "
                        "with 'nodes' and 'links' nor the API format of nodes with 'class_type')")


def _looks_like_api(data: Any) -> bool:
    return (isinstance(data, dict) and bool(data)
            and all(isinstance(n, dict) and "class_type" in n for n in data.values()))


def _from_image(path: Path) -> WorkflowFile:
    try:
        with Image.open(path) as image:
            texts = _image_texts(image)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise WorkflowError(f"{path.name} is not a readable image: {exc}") from None
    api = _json_chunk(texts.get("prompt"), path, "prompt")
    ui = _json_chunk(texts.get("workflow"), path, "workflow")
    if not _looks_like_api(api):
        api = None
    if not is_ui_workflow(ui):
        ui = None
    if api is None and ui is None:
        raise WorkflowError(f"{path.name} carries no ComfyUI workflow (no 'prompt' or 'workflow' "
                            "metadata; images re-saved by other programs usually lose it)")
    return WorkflowFile(path, api, ui)


def _image_texts(image: Image.Image) -> dict[str, str]:
    texts: dict[str, str] = {}
    for key, value in (getattr(image, "text", None) or image.info or {}).items():
        if isinstance(value, str):
            texts[key] = value
    if image.format == "WEBP":
        exif = image.getexif()
        for tag in (_EXIF_MAKE, _EXIF_MODEL):
            value = exif.get(tag)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str) and ":" in value:
                key, _, payload = value.partition(":")
                texts.setdefault(key.strip().lower(), payload)
    return texts


def _json_chunk(text: str | None, path: Path, what: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise WorkflowError(f"{path.name}: its embedded '{what}' is not valid JSON (the image "
                            "was probably truncated or edited)") from None
