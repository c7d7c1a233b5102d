"""Where files go: ComfyUI's output folder through `folder_paths`, or a stand-in outside ComfyUI.

The stand-in reproduces `folder_paths.get_save_image_path` (prefix split into subfolder and name,
counter = 1 + the largest existing `<name>_NNNNN_`, refusal to escape the output folder) so that
files are named identically inside and outside ComfyUI.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

OUTPUT_ENV = "AUTOMATA_COMFY_OUTPUT"


def _folder_paths() -> Any:
    # ComfyUI imports its `folder_paths` before loading custom nodes; outside ComfyUI there is
    # none, and importing some unrelated module of that name would be wrong.
    return sys.modules.get("folder_paths")


def output_directory() -> Path:
    folder_paths = _folder_paths()
    if folder_paths is not None:
        return Path(folder_paths.get_output_directory())
    configured = os.environ.get(OUTPUT_ENV)
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / "automata_comfy_output"
    path.mkdir(parents=True, exist_ok=True)
    return path


def prefix_name(prefix: str) -> str:
    """The part of a filename prefix that names the file (the rest is its subfolder)."""
    return Path(prefix).name


def png_name(name: str, counter: int) -> str:
    """SaveImage's file name for the `counter`-th file of a prefix whose last part is `name`."""
    return f"{name}_{counter:05}_.png"


def save_path(prefix: str, output_dir: Path, width: int, height: int) -> tuple[Path, str, int, str]:
    """(folder, name, counter, subfolder) for a file named `png_name(name, counter)`."""
    folder_paths = _folder_paths()
    if folder_paths is None:
        return _save_path(prefix, output_dir)
    folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(
        prefix, str(output_dir), width, height
    )
    return Path(folder), name, counter, subfolder


def _save_path(prefix: str, output_dir: Path) -> tuple[Path, str, int, str]:
    root = output_dir.resolve()
    folder = (root / prefix).parent.resolve()
    if not folder.is_relative_to(root):
        raise ValueError(f"filename prefix {prefix!r} would save outside the output folder")
    name = prefix_name(prefix)
    subfolder = folder.relative_to(root).as_posix()
    folder.mkdir(parents=True, exist_ok=True)
    taken = re.compile(re.escape(name) + r"_(\d{5})")
    counters = [int(m.group(1)) for f in os.listdir(folder) if (m := taken.match(f))]
    return folder, name, max(counters, default=0) + 1, "" if subfolder == "." else subfolder


def output_relative(path_text: str, output_dir: Path) -> Path | None:
    """Resolve a mesh path (relative to the output folder, or absolute inside it); None if it
    points elsewhere, so a workflow cannot make the webhook announce arbitrary files."""
    root = output_dir.resolve()
    candidate = Path(path_text)
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    return resolved.relative_to(root) if resolved.is_relative_to(root) else None
