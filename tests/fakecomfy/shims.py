"""Stand-ins for the ComfyUI modules that custom node packs import.

Node packs written for ComfyUI do ``import folder_paths``, ``import comfy.utils``,
``import comfy.model_management`` and ``from server import PromptServer``. Those modules only
exist inside a ComfyUI process, so the fake registers look-alikes in ``sys.modules`` before it
loads any pack. The behaviour mirrors ComfyUI 0.3.64 (folder_paths.py, comfy/utils.py,
comfy/model_management.py); only what node packs actually touch is provided.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_RESOLUTION = 16384


class InterruptProcessingException(Exception):
    """Raised inside a running node when ``POST /interrupt`` took effect (ComfyUI's own name)."""


class Runtime:
    """Process-wide state the shims read: directories, the interrupt flag, the progress hook."""

    def __init__(self) -> None:
        self.output_dir = ""
        self.input_dir = ""
        self.temp_dir = ""
        self.interrupt = threading.Event()
        self.progress_hook: Callable[..., None] | None = None
        self.server: Any = None
        # Version-dependent switches, set by the server from its profile and the prompt.
        self.output_metadata = False
        self.latent_previews = True
        # /_fake/config can speed up or slow down the probe nodes' sleeps.
        self.time_scale = 1.0

    def configure(self, root: Path) -> None:
        self.output_dir = str((root / "output").resolve())
        self.input_dir = str((root / "input").resolve())
        self.temp_dir = str((root / "temp").resolve())


RUNTIME = Runtime()


# --- comfy.model_management --------------------------------------------------------------------


def interrupt_current_processing(value: bool = True) -> None:
    if value:
        RUNTIME.interrupt.set()
    else:
        RUNTIME.interrupt.clear()


def processing_interrupted() -> bool:
    return RUNTIME.interrupt.is_set()


def throw_exception_if_processing_interrupted() -> None:
    # ComfyUI clears the flag when it raises, so one interrupt stops one node.
    if RUNTIME.interrupt.is_set():
        RUNTIME.interrupt.clear()
        raise InterruptProcessingException()


# --- folder_paths -------------------------------------------------------------------------------


def get_output_directory() -> str:
    return RUNTIME.output_dir


def get_input_directory() -> str:
    return RUNTIME.input_dir


def get_temp_directory() -> str:
    return RUNTIME.temp_dir


def get_directory_by_type(type_name: str) -> str | None:
    return {
        "output": RUNTIME.output_dir,
        "temp": RUNTIME.temp_dir,
        "input": RUNTIME.input_dir,
    }.get(type_name)


def annotated_filepath(name: str) -> tuple[str, str | None]:
    if name.endswith("[output]"):
        return name[:-9], get_output_directory()
    if name.endswith("[input]"):
        return name[:-8], get_input_directory()
    if name.endswith("[temp]"):
        return name[:-7], get_temp_directory()
    return name, None


def get_annotated_filepath(name: str, default_dir: str | None = None) -> str:
    name, base_dir = annotated_filepath(name)
    if base_dir is None:
        base_dir = default_dir if default_dir is not None else get_input_directory()
    return os.path.join(base_dir, name)


def exists_annotated_filepath(name: str) -> bool:
    name, base_dir = annotated_filepath(name)
    if base_dir is None:
        base_dir = get_input_directory()
    return os.path.exists(os.path.join(base_dir, name))


def get_save_image_path(
    filename_prefix: str, output_dir: str, image_width: int = 0, image_height: int = 0
) -> tuple[str, str, int, str, str]:
    """ComfyUI's counter naming: ``counter`` = 1 + the largest ``NNNNN`` of ``<name>_NNNNN_*``."""

    def map_filename(filename: str) -> tuple[int, str]:
        prefix_len = len(os.path.basename(filename_prefix))
        prefix = filename[: prefix_len + 1]
        try:
            digits = int(filename[prefix_len + 1 :].split("_")[0])
        except ValueError:
            digits = 0
        return digits, prefix

    def compute_vars(text: str) -> str:
        now = time.localtime()
        for key, value in (
            ("%width%", str(image_width)),
            ("%height%", str(image_height)),
            ("%year%", str(now.tm_year)),
            ("%month%", str(now.tm_mon).zfill(2)),
            ("%day%", str(now.tm_mday).zfill(2)),
            ("%hour%", str(now.tm_hour).zfill(2)),
            ("%minute%", str(now.tm_min).zfill(2)),
            ("%second%", str(now.tm_sec).zfill(2)),
        ):
            text = text.replace(key, value)
        return text

    if "%" in filename_prefix:
        filename_prefix = compute_vars(filename_prefix)

    subfolder = os.path.dirname(os.path.normpath(filename_prefix))
    filename = os.path.basename(os.path.normpath(filename_prefix))
    full_output_folder = os.path.join(output_dir, subfolder)
    common = os.path.commonpath((output_dir, os.path.abspath(full_output_folder)))
    if common != output_dir:
        raise Exception(
            "**** ERROR: Saving image outside the output folder is not allowed."
            f"\n full_output_folder: {os.path.abspath(full_output_folder)}"
            f"\n         output_dir: {output_dir}"
            f"\n         commonpath: {common}"
        )
    try:
        counter = (
            max(
                entry
                for entry in map(map_filename, os.listdir(full_output_folder))
                if os.path.normcase(entry[1][:-1]) == os.path.normcase(filename) and entry[1][-1] == "_"
            )[0]
            + 1
        )
    except ValueError:
        counter = 1
    except FileNotFoundError:
        os.makedirs(full_output_folder, exist_ok=True)
        counter = 1
    return full_output_folder, filename, counter, subfolder, filename_prefix


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def filter_files_content_types(files: list[str], content_types: list[str]) -> list[str]:
    if "image" not in content_types:
        return []
    return [f for f in files if f.lower().endswith(IMAGE_EXTENSIONS)]


# --- comfy.utils ---------------------------------------------------------------------------------


class ProgressBar:
    """ComfyUI's ProgressBar: every update goes through the server's progress hook."""

    def __init__(self, total: int, node_id: str | None = None) -> None:
        self.total = total
        self.current = 0
        self.node_id = node_id

    def update_absolute(self, value: Any, total: Any = None, preview: Any = None) -> None:
        if total is not None:
            self.total = total
        if value > self.total:
            value = self.total
        self.current = value
        if RUNTIME.progress_hook is not None:
            RUNTIME.progress_hook(self.current, self.total, preview, node_id=self.node_id)

    def update(self, value: Any) -> None:
        self.update_absolute(self.current + value)


def _module(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    module.__fakecomfy_shim__ = True
    return module


def install(prompt_server_class: type, node_class_mappings: dict[str, Any]) -> None:
    """Register the look-alike modules (idempotent within one process)."""
    folder_paths = _module(
        "folder_paths",
        get_output_directory=get_output_directory,
        get_input_directory=get_input_directory,
        get_temp_directory=get_temp_directory,
        get_directory_by_type=get_directory_by_type,
        annotated_filepath=annotated_filepath,
        get_annotated_filepath=get_annotated_filepath,
        exists_annotated_filepath=exists_annotated_filepath,
        get_save_image_path=get_save_image_path,
        filter_files_content_types=filter_files_content_types,
        get_filename_list=lambda folder_name: [],
        get_full_path=lambda folder_name, filename: None,
        folder_names_and_paths={},
    )
    model_management = _module(
        "comfy.model_management",
        InterruptProcessingException=InterruptProcessingException,
        interrupt_current_processing=interrupt_current_processing,
        processing_interrupted=processing_interrupted,
        throw_exception_if_processing_interrupted=throw_exception_if_processing_interrupted,
        get_torch_device=lambda: "cpu",
    )
    utils = _module("comfy.utils", ProgressBar=ProgressBar, PROGRESS_BAR_ENABLED=True)
    comfy = _module("comfy", utils=utils, model_management=model_management)
    comfy.__path__ = []  # a package, so "import comfy.utils" resolves through sys.modules
    server = _module("server", PromptServer=prompt_server_class)
    nodes = _module(
        "nodes",
        MAX_RESOLUTION=MAX_RESOLUTION,
        NODE_CLASS_MAPPINGS=node_class_mappings,
        interrupt_processing=interrupt_current_processing,
    )
    sys.modules.update(
        {
            "folder_paths": folder_paths,
            "comfy": comfy,
            "comfy.utils": utils,
            "comfy.model_management": model_management,
            "server": server,
            "nodes": nodes,
        }
    )
