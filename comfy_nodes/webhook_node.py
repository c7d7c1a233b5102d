"""AUTOMATA Webhook: save the maps (and point at the mesh) in ComfyUI's output folder, then tell
the AUTOMATA app with one signed `generation.completed` POST.

File names carry the map kind (`<prefix>_<generation8>_<kind>_00001_.png`) so a client reading
only `executed`/history can still tell maps apart. The `ui` dict lists the PNGs under `images` in
a fixed map order, every file (with kind, hash, size) under `files`, and the delivery outcome
under `webhook`; ComfyUI forwards it verbatim as `executed.data.output`.

`encode_maps` (what is saved, under which prefix, at which depth) is also what the app's
in-process runner uses, so its files are the ones this node would have saved.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .delivery import deliver
from .images import png_bytes, to_numpy_batch
from .output import output_directory, output_relative, png_name, save_path

log = logging.getLogger("automata_nodes.webhook")

#: Order of maps in `ui.images` and in the payload's `files`.
MAP_ORDER = ("base_color", "normal", "height", "roughness", "metallic", "ao", "orm")
GRAY_MAPS = frozenset({"height", "roughness", "metallic", "ao"})
SIXTEEN_BIT_MAPS = frozenset({"height", "normal"})
MESH_TYPES = {
    ".glb": "model/gltf-binary", ".gltf": "model/gltf+json", ".obj": "model/obj",
    ".stl": "model/stl", ".ply": "application/ply", ".3mf": "model/3mf", ".dae": "model/vnd.collada+xml",
}


def pack_version() -> str:
    from . import __version__

    return __version__


def _current_prompt_id() -> str | None:
    # ComfyUI's `server` module is already imported when a node runs; never import one ourselves.
    server = sys.modules.get("server")
    instance = getattr(getattr(server, "PromptServer", None), "instance", None)
    value = getattr(instance, "last_prompt_id", None)
    return str(value) if value else None


def _short_id(generation_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", generation_id)[:8] or "gen"


DEFAULT_PREFIX = "automata/pbr"


@dataclass(frozen=True)
class EncodedMap:
    """One frame of one map as the node saves it: `prefix` goes to SaveImage's naming."""

    kind: str
    prefix: str  # e.g. "automata/pbr_1a2b3c4d_normal"; the file is png_name(<its last part>, n)
    data: bytes
    width: int
    height: int
    bit_depth: int


def encode_maps(
    maps: Mapping[str, Any], *, filename_prefix: str, generation_id: str, sixteen_bit: bool
) -> Iterator[EncodedMap]:
    """Every frame of every connected map in MAP_ORDER, PNG-encoded; gray maps as one channel,
    height and normal at 16 bits when `sixteen_bit`. Lazy, so a caller can report progress."""
    prefix = f"{filename_prefix.strip() or DEFAULT_PREFIX}_{_short_id(generation_id)}"
    for kind in MAP_ORDER:
        if maps.get(kind) is None:
            continue
        bits = 16 if sixteen_bit and kind in SIXTEEN_BIT_MAPS else 8
        for frame in to_numpy_batch(maps[kind]):
            height, width = frame.shape[:2]
            yield EncodedMap(kind, f"{prefix}_{kind}",
                             png_bytes(frame, bits=bits, gray=kind in GRAY_MAPS),
                             width, height, bits)


class AutomataWebhook:
    """Saves PBR maps as PNG and POSTs a signed `generation.completed` webhook to AUTOMATA."""

    CATEGORY = "AUTOMATA"
    FUNCTION = "send"
    OUTPUT_NODE = True
    RETURN_TYPES = ()
    # `automata doctor` reads the pack version from here, through the server's /object_info.
    DESCRIPTION = f"{(__doc__ or '').strip()}\n\nAUTOMATA nodes {pack_version()}"

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        image = ("IMAGE",)
        return {
            "required": {
                "webhook_url": ("STRING", {"default": "", "tooltip": "AUTOMATA's webhook URL; "
                                           "empty = only save the files."}),
                "generation_id": ("STRING", {"default": ""}),
                "delivery": (["reference", "inline"], {"default": "reference", "tooltip":
                             "reference: send names (the app fetches /view); inline: send bytes."}),
                "filename_prefix": ("STRING", {"default": DEFAULT_PREFIX}),
                "sixteen_bit": ("BOOLEAN", {"default": True,
                                            "tooltip": "Save height and normal as 16-bit PNG."}),
            },
            "optional": {
                **{kind: image for kind in MAP_ORDER},
                "mesh_path": ("STRING", {"default": "", "tooltip": "A mesh in the output folder, "
                                         "e.g. the path from Hy3DExportMesh."}),
                "secret": ("STRING", {"default": "", "tooltip": "whsec_… signing secret; empty = "
                                      "AUTOMATA_WEBHOOK_SECRET from the environment, else the "
                                      "key `automata comfy install-nodes` wrote."}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    def send(
        self,
        webhook_url: str = "",
        generation_id: str = "",
        delivery: str = "reference",
        filename_prefix: str = DEFAULT_PREFIX,
        sixteen_bit: bool = True,
        mesh_path: str = "",
        secret: str = "",
        unique_id: str | None = None,
        **maps: Any,
    ) -> dict:
        generation_id = generation_id.strip() or uuid.uuid4().hex
        delivery = delivery if delivery in ("reference", "inline") else "reference"
        out_dir = output_directory()
        files: list[dict[str, Any]] = []
        blobs: list[bytes] = []
        for encoded in encode_maps(maps, filename_prefix=filename_prefix,
                                   generation_id=generation_id, sixteen_bit=sixteen_bit):
            folder, name, counter, subfolder = save_path(
                encoded.prefix, out_dir, encoded.width, encoded.height
            )
            filename = png_name(name, counter)
            (folder / filename).write_bytes(encoded.data)
            files.append(_describe(encoded.kind, filename, subfolder, encoded.data, "image/png",
                                   width=encoded.width, height=encoded.height,
                                   bit_depth=encoded.bit_depth))
            blobs.append(encoded.data)
        if mesh_path and mesh_path.strip():
            mesh = self._mesh(mesh_path.strip(), out_dir)
            if mesh is not None:
                files.append(mesh[0])
                blobs.append(mesh[1])

        result = self._post(webhook_url, secret, delivery, generation_id, unique_id, files, blobs)
        return {
            "ui": {
                "images": [_ref(f) for f in files if f["content_type"] == "image/png"],
                "files": files,
                "webhook": [result],
                # For an app on the same machine: it reads the maps from here, not via /view.
                "output_dir": [str(out_dir.resolve())],
            }
        }

    @staticmethod
    def _mesh(mesh_path: str, out_dir: Path) -> tuple[dict[str, Any], bytes] | None:
        relative = output_relative(mesh_path, out_dir)
        if relative is None:
            log.warning("AUTOMATA webhook: mesh %r is outside the output folder; left out", mesh_path)
            return None
        path = out_dir.resolve() / relative
        if not path.is_file():
            log.warning("AUTOMATA webhook: mesh %r does not exist; left out", mesh_path)
            return None
        data = path.read_bytes()
        subfolder = relative.parent.as_posix()
        content_type = MESH_TYPES.get(path.suffix.lower(), "application/octet-stream")
        entry = _describe("mesh", path.name, "" if subfolder == "." else subfolder, data,
                          content_type)
        return entry, data

    @staticmethod
    def _post(
        url: str, secret: str, delivery: str, generation_id: str, node_id: str | None,
        files: list[dict[str, Any]], blobs: list[bytes],
    ) -> dict[str, Any]:
        if not url or not url.strip():
            return {"delivered": False, "skipped": True}
        payload_files = [
            {**f, "data": base64.b64encode(b).decode("ascii")} if delivery == "inline" else f
            for f, b in zip(files, blobs, strict=True)
        ]
        payload = {
            "type": "generation.completed",
            # timezone.utc, not datetime.UTC: ComfyUI installs still run Python 3.10.
            "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),  # noqa: UP017
            "data": {
                "generation_id": generation_id,
                "prompt_id": _current_prompt_id(),
                "node_id": str(node_id) if node_id is not None else None,
                "delivery": delivery,
                "files": payload_files,
                "node_pack_version": pack_version(),
            },
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        outcome = deliver(url.strip(), body, secret=secret.strip() or None)
        return {
            "delivered": outcome.delivered,
            "webhook_id": outcome.webhook_id,
            "attempts": outcome.attempts,
            "status": outcome.status,
            "error": outcome.error,
        }


def _describe(
    kind: str, filename: str, subfolder: str, data: bytes, content_type: str, *,
    width: int | None = None, height: int | None = None, bit_depth: int | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "filename": filename,
        "subfolder": subfolder,
        "type": "output",
        "content_type": content_type,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "width": width,
        "height": height,
        "bit_depth": bit_depth,
    }


def _ref(entry: dict[str, Any]) -> dict[str, str]:
    return {"filename": entry["filename"], "subfolder": entry["subfolder"], "type": "output"}
