"""Install the AUTOMATA node pack into a ComfyUI: find ComfyUI folders, copy (or link) the pack.

Idempotent: the same version with the same content is left alone; anything else is replaced.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from automata_desktop.core.checksum import sha256_bytes, sha256_file
from automata_desktop.errors import ConfigError

PACK_FOLDER = "automata_nodes"
KEY_FILE = "automata_webhook.key"  # comfy_nodes/delivery.py reads it from the same place
COMFYUI_ENV = "COMFYUI_PATH"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")

Action = Literal["installed", "updated", "already installed", "linked"]


@dataclass(frozen=True)
class InstallReport:
    comfyui_dir: Path
    target: Path
    action: Action
    version: str
    previous_version: str | None = None
    key_file: Path | None = None  # the webhook key written beside the pack, if one was given

    @property
    def message(self) -> str:
        key = (f"\nThe webhook signing key is in {self.key_file} (readable by you only)"
               if self.key_file else "")
        return self._action_text() + key

    def _action_text(self) -> str:
        if self.action == "already installed":
            return f"AUTOMATA nodes {self.version} already installed in {self.target}"
        if self.action == "updated":
            was = self.previous_version or "an unknown version"
            return (f"Updated AUTOMATA nodes in {self.target} from {was} to {self.version}; "
                    "restart ComfyUI to load them")
        verb = "Linked" if self.action == "linked" else "Installed"
        return f"{verb} AUTOMATA nodes {self.version} in {self.target}; restart ComfyUI to load them"


def pack_source() -> Path:
    import comfy_nodes

    return Path(comfy_nodes.__file__).resolve().parent


def pack_version() -> str:
    import comfy_nodes

    return comfy_nodes.__version__


def is_comfyui_dir(path: Path) -> bool:
    return (path / "main.py").is_file() and (
        (path / "custom_nodes").is_dir() or (path / "comfy").is_dir()
    )


def find_comfyui_dirs() -> list[Path]:
    """ComfyUI folders in the usual places: $COMFYUI_PATH, the home folder, the working folder."""
    home = Path.home()
    candidates = [
        Path(os.environ[COMFYUI_ENV]).expanduser() if os.environ.get(COMFYUI_ENV) else None,
        home / "ComfyUI",
        home / "comfy" / "ComfyUI",
        home / "Documents" / "ComfyUI",
        Path.cwd(),
        Path.cwd() / "ComfyUI",
    ]
    found: list[Path] = []
    for candidate in candidates:
        if candidate is None or not is_comfyui_dir(candidate):
            continue
        resolved = candidate.resolve()
        if resolved not in found:
            found.append(resolved)
    return found


def install_nodes(comfyui_dir: Path | None = None, *, link: bool = False,
                  secret: str | None = None) -> InstallReport:
    """Copy (or symlink, for development) the pack to `<ComfyUI>/custom_nodes/automata_nodes`,
    and put the app's webhook `secret` beside it (`custom_nodes/automata_webhook.key`, 0600) so a
    ComfyUI on this machine signs its callbacks without the secret ever being in a prompt."""
    root = _choose(comfyui_dir)
    custom = root / "custom_nodes"
    custom.mkdir(exist_ok=True)
    key_file = write_key(custom, secret) if secret else None
    target = custom / PACK_FOLDER
    source = pack_source()
    version = pack_version()

    if link:
        if target.is_symlink() and target.resolve() == source:
            return InstallReport(root, target, "already installed", version, version, key_file)
        previous = _installed_version(target)
        _remove(target)
        target.symlink_to(source, target_is_directory=True)
        return InstallReport(root, target, "linked", version, previous, key_file)

    previous = _installed_version(target)
    if previous == version and not target.is_symlink() and _digest(target) == _digest(source):
        return InstallReport(root, target, "already installed", version, previous, key_file)
    existed = target.exists() or target.is_symlink()
    staging = custom / f".{PACK_FOLDER}.installing"
    _remove(staging)
    shutil.copytree(source, staging, ignore=_IGNORE)
    _remove(target)
    staging.rename(target)  # swap in one step so ComfyUI never sees a half-copied pack
    return InstallReport(root, target, "updated" if existed else "installed", version, previous,
                         key_file)


def write_key(custom_nodes: Path, secret: str) -> Path:
    """The signing key for the pack's webhook node, created 0600 (never world-readable, not even
    for the instant between create and chmod)."""
    path = custom_nodes / KEY_FILE
    tmp = custom_nodes / f".{KEY_FILE}.part"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    os.replace(tmp, path)
    return path


def _choose(comfyui_dir: Path | None) -> Path:
    if comfyui_dir is not None:
        path = Path(comfyui_dir).expanduser()
        if not is_comfyui_dir(path):
            raise ConfigError(
                f"{path} is not a ComfyUI folder (expected main.py and custom_nodes/ inside it)"
            )
        return path.resolve()
    found = find_comfyui_dirs()
    if not found:
        raise ConfigError(
            "No ComfyUI folder found in ~/ComfyUI, ~/comfy/ComfyUI, ~/Documents/ComfyUI or the "
            f"current folder; pass --comfyui DIR or set {COMFYUI_ENV}"
        )
    return found[0]


def _installed_version(target: Path) -> str | None:
    init = target / "__init__.py"
    if not init.is_file():
        return None
    for line in init.read_text(encoding="utf-8", errors="replace").splitlines():
        found = re.match(r"""__version__\s*=\s*["']([^"']+)["']""", line)
        if found:
            return found.group(1)
    return None


def _digest(folder: Path) -> str:
    """The pack's content: each file's name and checksum (compared, never stored)."""
    listing = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder)
        if "__pycache__" in rel.parts or rel.suffix == ".pyc" or rel.name.startswith("."):
            continue
        listing.append(f"{rel.as_posix()}\0{sha256_file(path).sha256}\n")
    return sha256_bytes("".join(listing).encode())


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
