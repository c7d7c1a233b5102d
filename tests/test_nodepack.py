"""`automata comfy install-nodes`: finds ComfyUI, installs the pack once, updates it when changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from automata_desktop import nodepack
from automata_desktop.errors import ConfigError


def make_comfyui(path: Path) -> Path:
    (path / "custom_nodes").mkdir(parents=True)
    (path / "main.py").write_text("# ComfyUI\n")
    return path


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("COMFYUI_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def test_comfyui_is_found_in_the_home_folder_and_through_the_environment(home, tmp_path, monkeypatch):
    assert nodepack.find_comfyui_dirs() == []
    in_home = make_comfyui(home / "ComfyUI")
    portable = make_comfyui(tmp_path / "portable" / "ComfyUI")
    (tmp_path / "not_comfy").mkdir()
    monkeypatch.setenv("COMFYUI_PATH", str(portable))
    assert nodepack.find_comfyui_dirs() == [portable.resolve(), in_home.resolve()]


def test_installing_twice_copies_once_and_reports_it(home):
    comfy = make_comfyui(home / "ComfyUI")
    first = nodepack.install_nodes(comfy)
    target = comfy / "custom_nodes" / "automata_nodes"
    assert first.action == "installed" and first.target == target.resolve()
    assert (target / "__init__.py").is_file() and (target / "pbr_math.py").is_file()
    assert not list(target.rglob("__pycache__"))
    second = nodepack.install_nodes(None)  # found on its own in ~/ComfyUI
    assert second.action == "already installed"
    assert nodepack.pack_version() in second.message


def test_a_changed_or_older_install_is_updated(home):
    comfy = make_comfyui(home / "ComfyUI")
    nodepack.install_nodes(comfy)
    init = comfy / "custom_nodes" / "automata_nodes" / "__init__.py"
    init.write_text(init.read_text().replace(nodepack.pack_version(), "0.0.1"))
    (init.parent / "stale_module.py").write_text("")
    report = nodepack.install_nodes(comfy)
    assert report.action == "updated" and report.previous_version == "0.0.1"
    assert "0.0.1" in report.message and not (init.parent / "stale_module.py").exists()
    assert nodepack.install_nodes(comfy).action == "already installed"


def test_link_mode_points_at_the_source_for_development(home):
    comfy = make_comfyui(home / "ComfyUI")
    report = nodepack.install_nodes(comfy, link=True)
    assert report.action == "linked"
    assert report.target.resolve() == nodepack.pack_source()
    assert nodepack.install_nodes(comfy, link=True).action == "already installed"
    assert nodepack.install_nodes(comfy).action == "updated"  # a real copy replaces the link
    assert not (comfy / "custom_nodes" / "automata_nodes").is_symlink()


def test_a_folder_that_is_not_comfyui_gets_a_clear_error(home, tmp_path):
    with pytest.raises(ConfigError, match="not a ComfyUI folder"):
        nodepack.install_nodes(tmp_path)
    with pytest.raises(ConfigError, match="--comfyui"):
        nodepack.install_nodes(None)
