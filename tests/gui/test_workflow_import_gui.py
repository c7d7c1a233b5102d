"""Importing a workflow from the window: drop an image ComfyUI saved (or a .json) on it, correct
the parameters the import found, and generate with it from the picker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from automata_desktop.config import ServerConfig
from automata_desktop.core.generation import GenerationStatus
from automata_desktop.paths import data_dir
from automata_desktop.ui.workflow_import_dialog import KEEP, NAME
from tests.gui.workbench_helpers import open_workbench, wait_for

pytestmark = pytest.mark.gui
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "workflows"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def comfy_png(path: Path) -> Path:
    info = PngInfo()
    info.add_text("prompt", (FIXTURES / "txt2img_sd15.api.json").read_text())
    info.add_text("workflow", (FIXTURES / "txt2img_sd15.ui.json").read_text())
    Image.new("RGB", (32, 32), (90, 110, 70)).save(path, pnginfo=info)
    return path


def drop(window, *paths: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(200, 200), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted(), "the window refused the drag"
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)  # what Qt calls once the drag was accepted over the window


def row_of(dialog, name: str) -> int:
    return next(r for r in range(dialog.table.rowCount())
                if dialog.table.item(r, NAME).text() == name)


def test_an_image_dropped_on_the_window_imports_its_workflow(qapp, tmp_path):
    bench = open_workbench(qapp, tmp_path / "library")
    try:
        png = comfy_png(tmp_path / "mossy_stones.png")
        drop(bench.window, png)
        wait_for(qapp, lambda: bench.import_dialog is not None, 30,
                 f"the import dialog ({bench.generation.message.text()!r})")
        assert bench.import_dialog.isVisible()
        panel, dialog = bench.generation, bench.import_dialog
        assert panel.workflow.currentData() == "mossy_stones"
        assert panel._form.isRowVisible(panel.prompt) and panel._form.isRowVisible(panel._seed_row)
        assert "Load Checkpoint" not in dialog.lacks.text()  # no server asked: said, not guessed
        assert "not checked against a server" in dialog.lacks.text()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        dialog.grab().save(str(SCREENSHOTS / "workflow-import.png"))

        # The user keeps steps fixed, renames cfg and promotes the file name prefix.
        dialog.table.item(row_of(dialog, "steps"), KEEP).setCheckState(Qt.CheckState.Unchecked)
        dialog.table.item(row_of(dialog, "cfg"), NAME).setText("guidance_scale")
        dialog.candidates.setCurrentIndex(dialog.candidates.findText("9.filename_prefix",
                                                                     Qt.MatchFlag.MatchStartsWith))
        dialog.add.click()
        dialog.save.click()
        wait_for(qapp, lambda: "guidance_scale" in panel.workflows["mossy_stones"].parameters,
                 30, "the saved parameters")
        params = panel.workflows["mossy_stones"].parameters
        assert "steps" not in params and "cfg" not in params
        assert params["filename_prefix"].bind == (("9", "filename_prefix"),)
        manifest = json.loads((data_dir() / "workflows" / "mossy_stones.manifest.json").read_text())
        assert set(manifest["parameters"]) == set(params)
    finally:
        bench.window.close()


def test_a_dropped_image_without_a_workflow_is_a_clear_message(qapp, tmp_path):
    bench = open_workbench(qapp, tmp_path / "library")
    try:
        photo = tmp_path / "photo.png"
        Image.new("RGB", (8, 8)).save(photo)
        drop(bench.window, photo)
        panel = bench.generation
        wait_for(qapp, lambda: panel.message.isVisible(), 30, "the error")
        assert "carries no ComfyUI workflow" in panel.message.text()
        assert bench.import_dialog is None
    finally:
        bench.window.close()


def test_a_ui_workflow_dropped_with_a_comfyui_server_converts_and_names_the_missing_model(
        qapp, tmp_path, fake_comfy):
    bench = open_workbench(qapp, tmp_path / "library",
                           servers=(ServerConfig(fake_comfy.url, "fake"),))
    try:
        bench.generation.select(server=fake_comfy.url)
        source = tmp_path / "cobbles.json"
        source.write_text((FIXTURES / "txt2img_sd15.ui.json").read_text())
        drop(bench.window, source)
        wait_for(qapp, lambda: bench.import_dialog is not None, 30, "the import dialog")
        text = bench.import_dialog.lacks.text()
        assert "v1-5-pruned-emaonly.safetensors (put it in ComfyUI/models/checkpoints/)" in text
        assert bench.generation.workflow.currentData() == "cobbles"
        wait_for(qapp, lambda: "checkpoints" in bench.generation.readiness.text(), 30,
                 "the readiness check")
        assert bench.generation.readiness.text().startswith("⚠")
    finally:
        bench.window.close()


def test_a_generation_refused_by_comfyui_is_titled_with_its_workflow(qapp, qtbot, tmp_path,
                                                                     fake_comfy):
    bench = open_workbench(qapp, tmp_path / "library",
                           servers=(ServerConfig(fake_comfy.url, "fake"),))
    try:
        panel = bench.generation
        panel.select(server=fake_comfy.url, workflow="text_to_texture_sdxl")
        panel.prompt.setPlainText("mossy cobblestones")
        qtbot.mouseClick(panel.generate, Qt.MouseButton.LeftButton)
        wait_for(qapp, lambda: panel.queue.rows, 30, "a queue row")
        [row] = panel.queue.rows.values()
        wait_for(qapp, lambda: row.status is GenerationStatus.FAILED, 30, "the refusal")
        assert row.title.text().startswith("Texture from a text prompt (SDXL)")
        assert "ComfyUI/models/checkpoints/" in panel.message.text()
    finally:
        bench.window.close()


def test_the_dialog_offers_to_add_a_webhook_node(qapp, tmp_path):
    bench = open_workbench(qapp, tmp_path / "library")
    try:
        source = tmp_path / "plain.json"
        source.write_text((FIXTURES / "txt2img_sd15.api.json").read_text())
        drop(bench.window, source)
        wait_for(qapp, lambda: bench.import_dialog is not None, 30, "the import dialog")
        first = bench.import_dialog
        assert first.add_webhook is not None
        first.add_webhook.click()
        wait_for(qapp, lambda: bench.import_dialog is not first, 30, "the second import")
        assert bench.import_dialog.add_webhook is None  # it has one now
        template = bench.generation.workflows["plain"]
        assert template.webhook_node is not None
        assert template.graph[template.webhook_node]["class_type"] == "AutomataWebhook"
    finally:
        bench.window.close()
