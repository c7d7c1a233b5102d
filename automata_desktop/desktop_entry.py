"""Register the app with a Linux desktop: a freedesktop `.desktop` launcher, hicolor icons and the
3D-model MIME types it opens, all per user (no root).

Also the one home of the app's identity for the installers (id, names, file types), so the
PyInstaller spec's Windows version info and macOS Info.plist say the same as the Linux launcher.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from automata_desktop.errors import ConfigError
from automata_desktop.paths import resources_dir

APP_ID = "io.automata.Desktop"
APP_NAME = "AUTOMATA Desktop"
GUI_EXECUTABLE = "automata-desktop"
CLI_EXECUTABLE = "automata"
SUMMARY = "AI texturing of 3D models with ComfyUI, previewed as PBR materials"


@dataclass(frozen=True)
class MeshFileType:
    mime: str
    extensions: tuple[str, ...]
    description: str
    magic: bytes | None = None  # leading bytes, so a file without the extension is still known


MESH_FILE_TYPES = (
    MeshFileType("model/gltf-binary", ("glb",), "glTF binary 3D model", b"glTF"),
    MeshFileType("model/gltf+json", ("gltf",), "glTF 3D model"),
    MeshFileType("model/obj", ("obj",), "Wavefront OBJ 3D model"),
)


def icon_pngs() -> dict[int, Path]:
    """The shipped square PNG icons by edge length (resources/icons/automata_<size>.png)."""
    found = {}
    for png in (resources_dir() / "icons").glob("automata_*.png"):
        size = png.stem.rsplit("_", 1)[-1]
        if size.isdigit():
            found[int(size)] = png
    return dict(sorted(found.items()))


def default_prefix() -> Path:
    """$XDG_DATA_HOME, else ~/.local/share: where per-user launchers, icons and MIME types go."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def gui_command() -> list[str]:
    """How a launcher starts this installation's GUI: the frozen app, the venv script, or python -m."""
    if getattr(sys, "frozen", False):
        return [str(Path(sys.executable).with_name(GUI_EXECUTABLE))]
    beside_python = Path(sys.executable).with_name(GUI_EXECUTABLE)
    if beside_python.is_file():
        return [str(beside_python)]
    on_path = shutil.which(GUI_EXECUTABLE)
    if on_path:
        return [on_path]
    return [sys.executable, "-m", "automata_desktop"]


def install_desktop_entry(*, prefix: Path | None = None, command: list[str] | None = None,
                          refresh_caches: bool = True) -> list[Path]:
    """Write the launcher, icons and MIME package under `prefix` (default: `default_prefix()`).

    Returns the files written. Running it again overwrites them, so it also repairs a launcher
    that points at a moved installation. `refresh_caches` runs update-desktop-database and
    update-mime-database when they exist (desktops pick up changes without them, only later).
    """
    prefix = Path(prefix) if prefix is not None else default_prefix()
    entry = prefix / "applications" / f"{APP_ID}.desktop"
    try:
        written = [*_install_icons(prefix), _install_mime_package(prefix)]
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_text(desktop_entry_text(command or gui_command()), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the desktop launcher under {prefix}: "
                          f"{exc.strerror or exc}") from exc
    written.append(entry)
    if refresh_caches:
        _run_if_present("update-desktop-database", "-q", str(entry.parent))
        _run_if_present("update-mime-database", str(prefix / "mime"))
    return written


def desktop_entry_text(command: list[str]) -> str:
    mimes = "".join(f"{t.mime};" for t in MESH_FILE_TYPES)
    exec_line = " ".join(_exec_quote(arg) for arg in command)
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",
        f"Name={APP_NAME}",
        "GenericName=3D Model Texturing",
        f"Comment={SUMMARY}",
        f"Exec={exec_line} %f",
        f"Icon={APP_ID}",
        "Terminal=false",
        "Categories=Graphics;3DGraphics;",
        f"MimeType={mimes}",
        "Keywords=3D;texture;PBR;material;ComfyUI;glTF;",
        "StartupNotify=true",
        "",
    ])


def mime_package_xml() -> str:
    types = []
    for t in MESH_FILE_TYPES:
        globs = "".join(f'\n    <glob pattern="*.{ext}"/>' for ext in t.extensions)
        magic = ""
        if t.magic:
            magic = (f'\n    <magic priority="50">\n      <match type="string" offset="0" '
                     f'value="{t.magic.decode("ascii")}"/>\n    </magic>')
        types.append(f'  <mime-type type="{t.mime}">\n    <comment>{t.description}</comment>'
                     f'{globs}{magic}\n  </mime-type>')
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<mime-info xmlns="http://www.freedesktop.org/standards/shared-mime-info">\n'
            + "\n".join(types) + "\n</mime-info>\n")


def _install_icons(prefix: Path) -> list[Path]:
    pngs = icon_pngs()
    if not pngs:
        raise ConfigError(f"no icons in {resources_dir() / 'icons'}; reinstall automata-desktop")
    written = []
    for size, png in pngs.items():
        target = prefix / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, target)
        written.append(target)
    svg = resources_dir() / "icons" / "automata.svg"
    if svg.is_file():
        target = prefix / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(svg, target)
        written.append(target)
    return written


def _install_mime_package(prefix: Path) -> Path:
    target = prefix / "mime" / "packages" / f"{APP_ID}.xml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(mime_package_xml(), encoding="utf-8")
    return target


def _exec_quote(arg: str) -> str:
    """Quote one Exec argument: the desktop-entry spec's quoting, then its string escaping."""
    arg = arg.replace("%", "%%")
    if arg and not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`='):
        return arg
    quoted = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return '"' + quoted.replace("\\", "\\\\") + '"'


def _run_if_present(tool: str, *args: str) -> None:
    path = shutil.which(tool)
    if path:
        subprocess.run([path, *args], check=False, capture_output=True, timeout=60)
