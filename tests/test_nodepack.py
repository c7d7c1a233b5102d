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


def _installed_delivery(target: Path, name: str):
    """The installed copy's delivery module, imported from where ComfyUI would import it."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, target / "delivery.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("link", [False, True])
def test_the_webhook_key_goes_beside_the_pack_readable_by_its_owner_only(home, link):
    from automata_desktop.config import generate_webhook_secret

    secret = generate_webhook_secret()
    comfy = make_comfyui(home / "ComfyUI")
    report = nodepack.install_nodes(comfy, link=link, secret=secret)
    key = comfy / "custom_nodes" / "automata_webhook.key"
    assert report.key_file == key and str(key) in report.message
    assert key.read_text().strip() == secret and key.stat().st_mode & 0o777 == 0o600
    # the installed node finds it, through the symlink of a development install too
    delivery = _installed_delivery(comfy / "custom_nodes" / "automata_nodes",
                                   f"installed_delivery_{int(link)}")
    assert delivery.installed_secret() == secret
    # a new secret (Settings → Webhook → Regenerate) is written over the old one
    again = generate_webhook_secret()
    assert nodepack.install_nodes(comfy, link=link, secret=again).action == "already installed"
    assert key.read_text().strip() == again and key.stat().st_mode & 0o777 == 0o600


async def test_a_delivery_from_the_installed_pack_is_signed_with_the_key_beside_it(
        home, monkeypatch):
    from automata_desktop.config import generate_webhook_secret
    from automata_desktop.webhook import WebhookListener
    from tests.test_webhook_listener import completed, encode

    monkeypatch.delenv("AUTOMATA_WEBHOOK_SECRET", raising=False)
    secret = generate_webhook_secret()
    comfy = make_comfyui(home / "ComfyUI")
    nodepack.install_nodes(comfy, secret=secret)
    delivery = _installed_delivery(comfy / "custom_nodes" / "automata_nodes", "signed_delivery")
    received = []

    async def record(event):
        received.append(event)

    listener = WebhookListener(secret=secret, on_event=record, port=0)
    await listener.start()
    try:
        import asyncio

        result = await asyncio.to_thread(delivery.deliver, listener.url, encode(completed()))
    finally:
        await listener.stop()
    assert result.delivered and result.status == 200 and len(received) == 1
