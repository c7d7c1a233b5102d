"""Settings are edited in a dialog and stored through config; the 2D map view reads pixel values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from automata_desktop.config import ServerConfig, Settings, load_settings
from automata_desktop.core.maps import MapKind
from automata_desktop.core.texture_set import MapSource, TextureMap, TextureSet
from automata_desktop.ui.map_view import MapView
from automata_desktop.ui.settings_dialog import SettingsDialog
from tests.gui.workbench_helpers import wait_for

pytestmark = pytest.mark.gui


def test_settings_are_saved_and_read_back(qapp, tmp_path):
    path = tmp_path / "settings.json"
    original = Settings(servers=(ServerConfig("http://127.0.0.1:8188", "desk"),),
                        webhook_secret="whsec_" + "B" * 43 + "=")
    dialog = SettingsDialog(original, path=path)
    dialog.add_server("render box", "10.0.0.7:8190", "key-123")
    dialog.webhook_public.setText("https://hooks.example.com/hooks/comfyui")
    dialog.regenerate_secret()
    dialog.timeout.setValue(20)
    dialog.save_button.click()

    assert dialog.saved is not None and path.exists()
    assert "https://hooks.example.com/hooks/comfyui" in dialog.url_hint.text()
    stored = load_settings(path, env={})
    assert [s.url for s in stored.servers] == ["http://127.0.0.1:8188", "http://10.0.0.7:8190"]
    assert stored.server("render box").api_key == "key-123"
    assert stored.webhook_secret.startswith("whsec_") and stored.webhook_secret != original.webhook_secret
    assert stored.timeout_minutes == 20
    assert json.loads(path.read_text())["webhook_public_url"].startswith("https://")


def test_a_bad_server_address_is_shown_in_the_dialog_and_nothing_is_saved(qapp, tmp_path):
    path = tmp_path / "settings.json"
    dialog = SettingsDialog(Settings(webhook_secret="whsec_" + "C" * 43 + "="), path=path)
    dialog.add_server("typo", "ftp://nowhere", "")
    dialog.save_button.click()
    assert dialog.saved is None and not path.exists()
    assert not dialog.error.isHidden() and "unsupported scheme" in dialog.error.text()


def test_the_default_server_is_a_choice_of_the_configured_servers(qapp, tmp_path):
    path = tmp_path / "settings.json"
    original = Settings(servers=(ServerConfig("http://127.0.0.1:8188", "desk"),),
                        default_server="desk", webhook_secret="whsec_" + "D" * 43 + "=")
    dialog = SettingsDialog(original, path=path)
    choices = [dialog.default_server.itemData(i) for i in range(dialog.default_server.count())]
    assert choices == ["http://127.0.0.1:8188", "local"]
    assert dialog.default_server.currentData() == "http://127.0.0.1:8188"  # "desk", by name

    dialog.add_server("render box", "10.0.0.7:8190", "")
    assert dialog.default_server.findData("http://10.0.0.7:8190") >= 0  # offered at once
    dialog.default_server.setCurrentIndex(dialog.default_server.findData("http://10.0.0.7:8190"))
    dialog.default_server.activated.emit(dialog.default_server.currentIndex())
    dialog.save_button.click()
    assert load_settings(path, env={}).default_server == "http://10.0.0.7:8190"


def test_the_server_table_headers_are_not_clipped(qapp):
    dialog = SettingsDialog(Settings(webhook_secret="whsec_" + "E" * 43 + "="))
    dialog.show()
    header = dialog.servers.horizontalHeader()
    metrics = header.fontMetrics()
    for column in range(dialog.servers.columnCount()):
        text = dialog.servers.horizontalHeaderItem(column).text()
        assert header.sectionSize(column) >= metrics.horizontalAdvance(text), text
    dialog.close()


def test_the_map_view_reads_out_the_value_under_the_pointer(qapp):
    height = np.zeros((16, 32), np.uint16)
    height[5, 20] = 40000
    colour = np.zeros((16, 32, 3), np.uint8)
    colour[..., 0] = 200
    textures = TextureSet({
        MapKind.BASE_COLOR: TextureMap(MapKind.BASE_COLOR, MapSource.GENERATED, pixels=colour),
        MapKind.HEIGHT: TextureMap(MapKind.HEIGHT, MapSource.DERIVED, pixels=height),
    })
    view = MapView()
    view.resize(400, 300)
    view.show()
    view.set_texture_set(textures)
    view.show_kind(MapKind.HEIGHT)
    wait_for(qapp, lambda: not view.canvas.item.image().isNull(), 10, "the map image")
    assert view.canvas.item.image().width() == 32
    view._hover(20.5, 5.5)
    assert view.readout.text() == "x 20, y 5: 40000"
    view.show_kind(MapKind.BASE_COLOR)  # decoded off the Qt thread: the readout follows
    wait_for(qapp, lambda: (view._hover(3.0, 3.0), view.readout.text())[1] == "x 3, y 3: R200 G0 B0",
             10, "the base color readout")
    qapp.processEvents()
    shot = view.canvas.viewport().grab().toImage()  # the map is painted, fitted to the view
    centre = shot.pixelColor(shot.width() // 2, shot.height() // 2)
    assert abs(centre.red() - 200) <= 8 and centre.green() == centre.blue() == 0
    view.close()


def test_the_map_view_behind_the_library_tab_holds_no_pixels_until_it_is_raised(qapp, tmp_path):
    from tests.gui.workbench_helpers import open_workbench

    bench = open_workbench(qapp, tmp_path / "library", with_maps=True)
    try:
        view = bench.map_view
        wait_for(qapp, lambda: view.texture_set is not None and view.picker.count() > 0, 30,
                 "the sample's maps in the map view")
        qapp.processEvents()
        assert view.pixels is None and view.canvas.item.image().isNull()  # behind the Library
        bench.map_dock.raise_()  # the user clicks the Map view tab
        wait_for(qapp, lambda: view.pixels is not None, 30, "the map decoded")
        assert not view.canvas.item.image().isNull()
        bench.library_dock.raise_()  # back to the library: the map's pixels go
        wait_for(qapp, lambda: view.pixels is None, 10, "the map released")
        bench.view_map(MapKind.NORMAL)  # a card's View button raises it with that map
        wait_for(qapp, lambda: view.pixels is not None and view.kind == MapKind.NORMAL, 30,
                 "the normal map")
    finally:
        bench.window.close()
