"""Where bundled resources and per-user files live."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "automata-desktop"


def resources_dir() -> Path:
    """The bundled `resources/` folder, from a source checkout or an installed wheel."""
    source_tree = Path(__file__).resolve().parent.parent / "resources"
    if source_tree.is_dir():
        return source_tree
    installed = Path(__file__).resolve().parent / "resources"
    if installed.is_dir():
        return installed
    raise FileNotFoundError("AUTOMATA resources are missing; reinstall automata-desktop")


def config_dir() -> Path:
    return Path(os.environ.get("AUTOMATA_CONFIG_DIR") or platformdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    return Path(os.environ.get("AUTOMATA_DATA_DIR") or platformdirs.user_data_dir(APP_NAME))
