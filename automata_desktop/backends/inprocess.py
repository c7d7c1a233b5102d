"""The in-process backend: model-free workflows (`pbr_from_image`) run here with the node pack's math.

It gives offline users and fresh machines the same lifecycle as a ComfyUI server — queued, running
with progress, completed with library files — without any server. Decoding and math run in a worker
thread so neither the asyncio loop nor the UI stalls on a 4K image.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from automata_desktop import __version__
from automata_desktop.backends.base import CancelOutcome, Capabilities, Inputs, JobHandle, JobSpec
from automata_desktop.backends.messages import (
    BackendMessage,
    CheckResult,
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionStarted,
    JobCompleted,
    OutputReady,
    OutputRef,
    PromptLost,
    StepProgress,
)
from automata_desktop.config import LOCAL_SERVER
from automata_desktop.core.maps import MapKind
from automata_desktop.errors import AutomataError, DownloadError, WorkflowError
from automata_desktop.fanout import Fanout

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


#: A runner: the job, a progress callback (fraction, label) → the outputs (kind, file name, bytes).
Runner = Callable[[JobSpec, Callable[[float, str], None]],
                  Awaitable[list[tuple[MapKind, str, bytes]]]]


async def run_pbr_from_image(spec: JobSpec, report: Callable[[float, str], None]
                             ) -> list[tuple[MapKind, str, bytes]]:
    """`pbr_from_image` with the node pack's math; returns the encoded maps."""
    from comfy_nodes.pbr_math import derive_pbr

    if spec.image is None:
        raise WorkflowError("pbr_from_image needs an image: pass --image FILE")
    image_path = spec.image
    loop = asyncio.get_running_loop()

    def progress(fraction: float, label: str) -> None:
        loop.call_soon_threadsafe(report, fraction, label)

    def work() -> list[tuple[MapKind, bytes]]:
        progress(0.05, "Load image")
        image = load_image(image_path)
        progress(0.25, "Derive PBR maps")
        maps = derive_pbr(image, _settings(spec.parameters))
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
    report(1.0, "Done")
    return [(kind, f"{image_path.stem}_{kind.value}.png", data) for kind, data in encoded]


class InProcessBackend:
    """Model-free workflows run in this process; their outputs arrive as `OutputReady` messages.

    Its jobs die with the app (`outlives_app=False`) and have nothing to poll; a cancel stops the
    task, which reports `ExecutionInterrupted` like a ComfyUI server does.
    """

    def __init__(self, runner: Runner = run_pbr_from_image, *, url: str = LOCAL_SERVER) -> None:
        self.url = url
        self._runner = runner
        self._messages: Fanout[BackendMessage] = Fanout()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.capabilities = Capabilities(version=__version__, runs_models=False,
                                         outlives_app=False, same_machine=True, pollable=False)

    @property
    def connected(self) -> bool:
        return True

    async def connect(self) -> Capabilities:
        return self.capabilities

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def messages(self) -> AsyncIterator[BackendMessage]:
        return self._messages.subscribe()

    async def require(self, class_types: Iterable[str], packs: dict[str, str | None]) -> None:
        return None  # what runs here is decided by the workflow's `local` flag, not node classes

    async def prepare(self, inputs: Inputs) -> dict[str, Any]:
        params = dict(inputs.parameters)
        if inputs.image is not None:
            params["image"] = str(inputs.image)
        return params

    async def submit(self, spec: JobSpec) -> JobHandle:
        task = asyncio.create_task(self._run(spec), name=f"in-process {spec.generation_id}")
        self._tasks[spec.prompt_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(spec.prompt_id, None))
        return JobHandle(spec.prompt_id)

    async def _run(self, spec: JobSpec) -> None:
        prompt_id = spec.prompt_id
        publish = self._messages.publish
        publish(ExecutionStarted(prompt_id))

        def report(fraction: float, label: str) -> None:
            publish(StepProgress(prompt_id, fraction, label))

        try:
            outputs = await self._runner(spec, report)
        except asyncio.CancelledError:
            publish(ExecutionInterrupted(prompt_id))
            raise
        except AutomataError as exc:
            publish(ExecutionFailed(prompt_id, str(exc)))
            return
        for kind, filename, data in outputs:
            publish(OutputReady(prompt_id, kind, filename, data))
        publish(JobCompleted(prompt_id, completed_by=self.url))

    def follow(self, handle: JobHandle) -> None:
        return None

    def forget(self, handle: JobHandle) -> None:
        return None

    async def check(self, handle: JobHandle) -> CheckResult | None:
        if handle.prompt_id in self._tasks:
            return None
        return PromptLost(handle.prompt_id, "the app closed while this in-process generation "
                                            "ran; retry it")

    async def cancel(self, handle: JobHandle) -> CancelOutcome:
        task = self._tasks.get(handle.prompt_id)
        if task is None:
            return "not_found"
        task.cancel()
        return "interrupted"

    async def open_output(self, ref: OutputRef) -> AsyncIterator[bytes]:
        raise DownloadError(f"{ref.filename}: in-process outputs arrive with their message")
        yield b""  # pragma: no cover - makes this an async generator
