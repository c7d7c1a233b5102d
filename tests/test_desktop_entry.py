"""A Linux user runs `automata install-desktop-entry`: the app shows up in the desktop's launcher
with its icon, and .glb/.gltf/.obj files offer to open with it."""

from __future__ import annotations

import configparser
import os
import shutil
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from automata_desktop.desktop_entry import (
    APP_ID,
    MESH_FILE_TYPES,
    desktop_entry_text,
    gui_command,
    install_desktop_entry,
)
from automata_desktop.errors import ConfigError

MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"


def read_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive in desktop entries
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def validate(path: Path) -> None:
    """desktop-file-validate (apt: desktop-file-utils) when installed; the parse checks run anyway."""
    tool = shutil.which("desktop-file-validate")
    if tool:
        result = subprocess.run([tool, str(path)], capture_output=True, text=True)
        assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_the_launcher_is_a_valid_desktop_entry_that_starts_this_installation(tmp_path):
    written = install_desktop_entry(prefix=tmp_path)

    entry_path = tmp_path / "applications" / f"{APP_ID}.desktop"
    assert entry_path in written
    validate(entry_path)
    entry = read_entry(entry_path)
    assert entry["Type"] == "Application"
    assert entry["Name"] == "AUTOMATA Desktop"
    assert entry["Icon"] == APP_ID
    assert entry["Exec"].endswith(" %f"), "a double-clicked file must reach the app"
    program = gui_command()[0]
    assert entry["Exec"].startswith(program) or entry["Exec"].startswith(f'"{program}"')
    assert Path(program).is_file() and os.access(program, os.X_OK), program
    assert set(entry["MimeType"].rstrip(";").split(";")) == {t.mime for t in MESH_FILE_TYPES}


def test_every_icon_size_lands_in_the_hicolor_theme_at_its_real_size(tmp_path):
    written = install_desktop_entry(prefix=tmp_path, refresh_caches=False)

    pngs = [p for p in written if p.suffix == ".png"]
    assert {p.parent.parent.name for p in pngs} >= {"16x16", "32x32", "48x48", "128x128", "256x256"}
    for png in pngs:
        assert png.name == f"{APP_ID}.png"
        assert png.is_relative_to(tmp_path / "icons" / "hicolor")
        width, height = Image.open(png).size
        assert f"{width}x{height}" == png.parent.parent.name
    assert (tmp_path / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()


def test_mesh_files_are_declared_by_extension_and_a_glb_by_its_magic_bytes(tmp_path):
    install_desktop_entry(prefix=tmp_path, refresh_caches=False)

    root = ET.parse(tmp_path / "mime" / "packages" / f"{APP_ID}.xml").getroot()
    declared = {
        node.get("type"): {g.get("pattern") for g in node.iter(f"{MIME_NS}glob")}
        for node in root.iter(f"{MIME_NS}mime-type")
    }
    assert declared == {
        "model/gltf-binary": {"*.glb"},
        "model/gltf+json": {"*.gltf"},
        "model/obj": {"*.obj"},
    }
    magic = root.find(f"{MIME_NS}mime-type[@type='model/gltf-binary']/{MIME_NS}magic/{MIME_NS}match")
    assert magic is not None and magic.get("value") == "glTF"


@pytest.mark.skipif(not shutil.which("update-mime-database"), reason="needs shared-mime-info")
def test_the_desktop_databases_map_mesh_files_to_the_app(tmp_path):
    install_desktop_entry(prefix=tmp_path)

    globs = (tmp_path / "mime" / "globs2").read_text()
    assert "model/gltf-binary:*.glb" in globs
    assert "model/obj:*.obj" in globs
    if shutil.which("update-desktop-database"):
        cache = (tmp_path / "applications" / "mimeinfo.cache").read_text()
        assert f"model/gltf-binary={APP_ID}.desktop;" in cache


def test_a_path_with_spaces_and_percent_signs_is_quoted_so_the_desktop_runs_it(tmp_path):
    program = tmp_path / "My Apps" / "100% automata" / "automata-desktop"
    entry_path = tmp_path / "applications" / f"{APP_ID}.desktop"
    install_desktop_entry(prefix=tmp_path, command=[str(program)], refresh_caches=False)

    validate(entry_path)
    exec_line = read_entry(entry_path)["Exec"]
    assert exec_line == f'"{tmp_path}/My Apps/100%% automata/automata-desktop" %f'


def test_installing_again_rewrites_the_same_files(tmp_path):
    first = install_desktop_entry(prefix=tmp_path, command=["/old/place/automata-desktop"])
    second = install_desktop_entry(prefix=tmp_path, command=["/new/place/automata-desktop"])

    assert first == second
    assert read_entry(tmp_path / "applications" / f"{APP_ID}.desktop")["Exec"] == (
        "/new/place/automata-desktop %f"
    )


def test_an_unwritable_folder_is_a_clear_error_not_a_traceback(tmp_path):
    if os.geteuid() == 0:
        blocker = tmp_path / "applications"
        blocker.write_text("a file where a folder should be")  # root ignores permission bits
    else:
        tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(ConfigError, match="cannot write the desktop launcher under"):
            install_desktop_entry(prefix=tmp_path, refresh_caches=False)
    finally:
        tmp_path.chmod(stat.S_IRWXU)


def test_the_entry_text_names_only_the_file_types_the_viewer_opens():
    text = desktop_entry_text(["automata-desktop"])
    assert "Exec=automata-desktop %f\n" in text
    assert "MimeType=model/gltf-binary;model/gltf+json;model/obj;\n" in text
