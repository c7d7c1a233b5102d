"""A fresh install with no ComfyUI running: the panel falls back to the in-process backend."""

from __future__ import annotations

import pytest

from automata_desktop.config import LOCAL_SERVER, ServerConfig, Settings, generate_webhook_secret
from automata_desktop.controller.app_controller import AppController
from automata_desktop.ui.main_window import MainWindow
from automata_desktop.ui.workbench import Workbench
from tests.gui.workbench_helpers import DEAD_SERVER, wait_for

pytestmark = pytest.mark.gui


def open_with_default(qapp, tmp_path, default: str) -> Workbench:
    settings = Settings(servers=(ServerConfig(DEAD_SERVER, "local ComfyUI"),), default_server=default,
                        webhook_port=0, library_dir=str(tmp_path / "library"),
                        webhook_secret=generate_webhook_secret())
    window = MainWindow(interactive=False)
    bench = Workbench(window, AppController(settings), settings_path=tmp_path / "settings.json")
    window.show()
    assert bench.controller.wait_ready(30), "the runtime did not start"
    return bench


def test_an_unreachable_default_comfyui_gives_way_to_the_in_process_backend(qapp, tmp_path):
    bench = open_with_default(qapp, tmp_path, DEAD_SERVER)
    panel = bench.generation
    assert panel.server_url == DEAD_SERVER and panel.template.name == "pbr_from_image"
    wait_for(qapp, lambda: panel.server_url == LOCAL_SERVER, 20, "the fallback to local")
    assert "No ComfyUI answers at http://127.0.0.1:9" in panel.message.text()
    bench.window.close()


def test_a_server_the_user_picked_is_kept_even_when_unreachable(qapp, tmp_path):
    bench = open_with_default(qapp, tmp_path, LOCAL_SERVER)
    panel = bench.generation
    panel.select(server=DEAD_SERVER)
    wait_for(qapp, lambda: DEAD_SERVER in panel.statuses, 20, "the server check")
    qapp.processEvents()
    assert panel.server_url == DEAD_SERVER
    bench.window.close()
