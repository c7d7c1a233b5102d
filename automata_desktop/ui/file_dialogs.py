"""File dialogs that open where the user last was, per purpose (meshes, images, exports, …).

Qt's static dialogs start in the process's working folder every time; artists keep meshes,
references and exports in folders of their own and should not walk there again. The folders
are kept in `dialogs.json` beside the settings, so they survive a restart.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from automata_desktop import paths

log = logging.getLogger(__name__)

FILE_NAME = "dialogs.json"
_loaded: dict[Path, dict[str, str]] = {}  # per store file, read once


def _store() -> Path:
    return paths.config_dir() / FILE_NAME


def _load() -> dict[str, str]:
    store = _store()
    if store not in _loaded:
        try:
            raw = json.loads(store.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = {}
        _loaded[store] = {k: v for k, v in raw.items() if isinstance(v, str)} \
            if isinstance(raw, dict) else {}
    return _loaded[store]


def start_folder(purpose: str) -> str:
    """Where a dialog for `purpose` opens: its last folder, else the last of any, else home."""
    folders = _load()
    for folder in (folders.get(purpose), folders.get("")):
        if folder and Path(folder).is_dir():
            return folder
    return str(Path.home())


def remember(purpose: str, chosen: str | Path) -> None:
    """Keep the folder of what the user chose (a file's parent, or a folder itself)."""
    path = Path(chosen)
    folder = str(path if path.is_dir() else path.parent)
    folders = _load()
    folders[purpose] = folders[""] = folder
    try:
        _store().parent.mkdir(parents=True, exist_ok=True)
        _store().write_text(json.dumps(folders, indent=1), encoding="utf-8")
    except OSError as exc:  # a read-only config folder costs the convenience, nothing else
        log.info("could not remember the dialog folder: %s", exc)


def open_file(parent: QWidget | None, purpose: str, title: str, filters: str) -> Path | None:
    path, _ = QFileDialog.getOpenFileName(parent, title, start_folder(purpose), filters)
    if not path:
        return None
    remember(purpose, path)
    return Path(path)


def open_folder(parent: QWidget | None, purpose: str, title: str) -> Path | None:
    folder = QFileDialog.getExistingDirectory(parent, title, start_folder(purpose))
    if not folder:
        return None
    remember(purpose, folder)
    return Path(folder)


def save_file(parent: QWidget | None, purpose: str, title: str, name: str,
              filters: str) -> Path | None:
    """`name` is suggested inside the remembered folder."""
    suggested = str(Path(start_folder(purpose)) / name)
    path, _ = QFileDialog.getSaveFileName(parent, title, suggested, filters)
    if not path:
        return None
    remember(purpose, path)
    return Path(path)
