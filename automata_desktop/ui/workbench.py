"""Puts the generation panel, material inspector, library and map view into a MainWindow and wires
them to one AppController: finished generations land on the mesh, the library follows the queue.

The controller is handed in by whoever builds the window (app.py, tests), so nothing here imports
the engine, the library or sync: widgets send intents and observe the controller's signals.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from automata_desktop.config import Settings
from automata_desktop.core.generation import Generation
from automata_desktop.core.maps import PBR_MAPS, MapKind, infer_map_kind
from automata_desktop.core.pbr import PBRSettings
from automata_desktop.core.texture_set import IMAGE_SUFFIXES, MapSource, TextureMap, TextureSet
from automata_desktop.core.workflow import WorkflowTemplate
from automata_desktop.ui import file_dialogs
from automata_desktop.ui.account_panel import AccountMenu
from automata_desktop.ui.generation_panel import GenerationPanel
from automata_desktop.ui.library_browser import LibraryBrowser
from automata_desktop.ui.main_window import MainWindow
from automata_desktop.ui.map_view import MapView
from automata_desktop.ui.material_inspector import MaterialInspector
from automata_desktop.ui.workflow_import_dialog import WorkflowImportDialog

if TYPE_CHECKING:
    from automata_desktop.controller.app_controller import AppController, SceneUpdate
    from automata_desktop.services import ImportedWorkflow
    from automata_desktop.workflow_import import ImportResult

log = logging.getLogger(__name__)

#: Maps that only exist packed in ORM once one of them is replaced: ORM would shadow the new file.
ORM_PARTS = {MapKind.AO, MapKind.ROUGHNESS, MapKind.METALLIC}
MAP_DOCK_HEIGHT = 380
LEFT_DOCK_WIDTH = 420
RIGHT_DOCK_WIDTH = 340
LIBRARY_DOCK_HEIGHT = 420


class Workbench(QObject):
    def __init__(self, window: MainWindow, controller: AppController, *,
                 settings_path: Path | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.controller = controller
        controller.setParent(self)
        self.settings_path = settings_path
        self.workflows = controller.workflows

        self.generation = GenerationPanel(controller)
        window.add_left_panel(self.generation)
        self.inspector = MaterialInspector()
        window.add_right_panel(self.inspector)
        self.library = LibraryBrowser(controller)
        self.library_dock = window.add_dock("Library", self.library)
        self.map_view = MapView()
        self.map_dock = window.add_dock("Map view", self.map_view)
        window.tabifyDockWidget(self.library_dock, self.map_dock)
        self.library_dock.raise_()
        self.map_dock.visibilityChanged.connect(lambda shown: shown and self._grow_map_dock())
        # Behind the Library tab the map view counts as visible to Qt: say when it is on screen,
        # so a 4K map is decoded (and held) only while the user can see it.
        self.map_dock.visibilityChanged.connect(self.map_view.set_on_screen)
        self.map_view.set_on_screen(False)
        QTimer.singleShot(0, self._size_docks)  # sizes stick only once the window is laid out

        self._library_refresh = QTimer(self)
        self._library_refresh.setSingleShot(True)
        self._library_refresh.setInterval(300)
        self._library_refresh.timeout.connect(self.library.refresh)

        window.textures_shown.connect(self.inspector.show_set)
        window.materials_changed.connect(self.inspector.set_materials)
        window.material_selected.connect(self.inspector.select_material)
        self.inspector.material_picked.connect(window.select_material)
        self.inspector.share_uv_set_changed.connect(
            lambda on: setattr(window, "share_uv_set", on))
        window.textures_shown.connect(self.map_view.set_texture_set)
        window.mesh_shown.connect(lambda mesh: self.generation.set_mesh_path(mesh.source))
        self.generation.message_shown.connect(
            lambda level, text: window.statusBar().showMessage(text.splitlines()[0], 8000))
        controller.library_changed.connect(self._library_refresh.start)
        controller.start_failed.connect(window.show_error)
        controller.scene_update.connect(self.show_generation)
        controller.generation_deleted.connect(self._generation_deleted)
        self.inspector.replace_requested.connect(self.replace_map)
        self.inspector.rederive_requested.connect(self.rederive)
        self.inspector.factors_changed.connect(self.set_factors)
        self.inspector.view_requested.connect(self.view_map)
        self.library.open_requested.connect(self.open_generation)
        self.library.rerun_requested.connect(lambda gen: self.generation.rerun(gen.id))
        self.library.message.connect(lambda text: window.statusBar().showMessage(text, 8000))
        find = QAction("Search the library", window)  # Ctrl+F, even with the library tabbed away
        find.setShortcut(QKeySequence(QKeySequence.StandardKey.Find))
        find.triggered.connect(self.library.focus_search)
        window.addAction(find)
        self.account = AccountMenu(controller, window)
        self.account.library_changed.connect(self._library_refresh.start)
        self.account.message.connect(lambda text: window.statusBar().showMessage(text, 10000))
        window.closing.connect(controller.stop)
        window.files_dropped.connect(self.files_dropped)
        self.import_dialog: WorkflowImportDialog | None = None
        self._add_menu()
        controller.start()

    def _size_docks(self) -> None:
        """The 3D view keeps at least about half of a small window; the library grows with the
        window (220 px at most showed 2-4 rows at any size), and the Material dock is wide
        enough for a card's buttons and slider values."""
        width, height = self.window.width(), self.window.height()
        self.window.resizeDocks([self.library_dock], [max(180, min(LIBRARY_DOCK_HEIGHT,
                                                                   height * 7 // 25))],
                                Qt.Orientation.Vertical)
        self.window.resizeDocks([self.window.left_dock, self.window.right_dock],
                                [min(LEFT_DOCK_WIDTH, width * 3 // 10),
                                 min(RIGHT_DOCK_WIDTH, width // 4)],
                                Qt.Orientation.Horizontal)

    def _add_menu(self) -> None:
        menu = self.window.menuBar().actions()[0].menu()  # File
        action = QAction("Se&ttings…", self.window)
        action.setShortcut(QKeySequence(QKeySequence.StandardKey.Preferences))
        action.triggered.connect(self.open_settings)
        menu.insertAction(menu.actions()[-1], action)
        self.window.addAction(action)
        workflows = QMenu("&Workflows", self.window)
        self.window.menuBar().insertMenu(self.window.menuBar().actions()[1], workflows)
        action = workflows.addAction("&Import…")
        action.setShortcut(QKeySequence("Ctrl+I"))
        action.triggered.connect(self._ask_workflow)
        self.window.addAction(action)

    # ------------------------------------------------------------------ importing workflows

    def _ask_workflow(self) -> None:
        path = file_dialogs.open_file(self.window, "workflow", "Import a ComfyUI workflow",
                                      "ComfyUI workflows (*.json *.png *.webp);;All files (*)")
        if path:
            self.import_workflows([path])

    def _reimport_with_webhook(self, result: ImportResult) -> None:
        assert result.source_path is not None
        path, server = result.source_path, self.generation.server_url
        self.controller.import_workflow(path, server, name=result.name, add_webhook=True,
                                        on_done=self._workflow_imported,
                                        on_error=lambda text: self._import_failed(path, text))

    def files_dropped(self, paths: list[Path]) -> None:
        """Images named as maps (brick_normal.png) go onto the selected material; the rest
        (.json, a ComfyUI-saved .png/.webp) are imported as workflows."""
        maps = [p for p in paths if p.suffix.lower() in IMAGE_SUFFIXES
                and infer_map_kind(p.name) in PBR_MAPS]
        if maps:
            self.window.open_map_files(maps)
        rest = [p for p in paths if p not in maps]
        if rest:
            self.import_workflows(rest)

    def import_workflows(self, paths: list[Path]) -> None:
        """Import each file as a workflow (dropped or picked); the last import's dialog opens."""
        server = self.generation.server_url
        for path in paths:
            if path.suffix.lower() not in (".json", ".png", ".webp"):
                self.window.statusBar().showMessage(
                    f"{path.name}: drop a mesh, a maps folder, or a ComfyUI workflow "
                    "(.json, or a .png/.webp ComfyUI saved)", 10000)
                continue
            self.window.statusBar().showMessage(f"Importing {path.name}…")
            self.controller.import_workflow(
                path, server, on_done=self._workflow_imported,
                on_error=lambda text, p=path: self._import_failed(p, text))

    def _import_failed(self, path: Path, text: str) -> None:
        self.generation.show_message(f"Could not import {path.name}: {text}", "error")
        self.window.statusBar().showMessage(f"Could not import {path.name}", 10000)

    def _workflow_imported(self, imported: ImportedWorkflow) -> None:
        self._show_template(imported.template)
        result = imported.result
        self.window.statusBar().showMessage(
            f"Imported {result.name}: {len(result.parameters)} parameters", 10000)
        self.import_dialog = WorkflowImportDialog(result, dict(imported.template.graph),
                                                  self.window)
        self.import_dialog.saved.connect(self._save_import)
        self.import_dialog.add_webhook_requested.connect(self._reimport_with_webhook)
        self.import_dialog.open()

    def _save_import(self, result: ImportResult, parameters: dict) -> None:
        self.controller.save_import(result, parameters, self._show_template,
                                    lambda text: self._import_failed(result.path, text))

    def _show_template(self, template: WorkflowTemplate) -> None:
        self.generation.add_workflow(template)

    # ------------------------------------------------------------------ generations

    def show_generation(self, update: SceneUpdate) -> None:
        """A generation's maps onto the selected material; maps the user replaced by hand stay
        when `update.keep_replaced` (a run finishing by itself), not when the user opened it."""
        if update.mesh is not None and not update.keep_replaced and update.mesh.exists():
            self.window.open_mesh(update.mesh)
        if len(update.textures) == 0:
            self.window.statusBar().showMessage("This generation has no texture maps to show", 8000)
            return
        self.window.show_generated_set(update.textures, apply=not update.keep_replaced)

    def open_generation(self, gen: Generation) -> None:
        """The library's Open: all of this generation, over any map replaced by hand."""
        self.controller.apply_to_scene(gen.id, on_error=self.window.show_error)

    def _generation_deleted(self, _generation_id: str, paths: frozenset[Path]) -> None:
        """Its files are gone: the scene must not keep drawing (or later re-read) them."""
        if self.window.drop_maps(paths):
            self.window.statusBar().showMessage(
                "The deleted generation's maps were taken off the mesh", 8000)

    # ------------------------------------------------------------------ material

    def replace_map(self, kind: MapKind, path: Path) -> None:
        current = self.window.texture_set or TextureSet()
        textures = current.with_map(TextureMap(kind, MapSource.IMPORTED, path=Path(path)))
        if kind in ORM_PARTS:
            textures = textures.without(MapKind.ORM)
        if kind is MapKind.BASE_COLOR:  # derived maps follow the new colour
            textures = _without_derived(textures)
        self.window.show_texture_set(textures, derive_missing=kind is MapKind.BASE_COLOR,
                                     pin=(kind,))

    def rederive(self, settings: PBRSettings) -> None:
        current = self.window.texture_set
        if current is None or MapKind.BASE_COLOR not in current:
            self.window.show_error("Deriving maps needs a base colour map: replace or generate one")
            return
        self.window.show_texture_set(_without_derived(current), derive_missing=True,
                                     settings=settings)

    def set_factors(self, roughness: float, metallic: float, normal: float) -> None:
        self.window.material_view.set_factors(roughness=roughness, metallic=metallic,
                                              normal_scale=normal)
        self.window.viewport.render()

    def view_map(self, kind: MapKind) -> None:
        self.map_dock.show()
        self.map_dock.raise_()
        self._grow_map_dock()
        self.map_view.show_kind(kind)

    def _grow_map_dock(self) -> None:
        """A map needs more room than the library list (its tab or a View button raised it)."""
        wanted = min(MAP_DOCK_HEIGHT, self.window.height() * 9 // 20)
        if self.map_dock.height() < wanted:
            self.window.resizeDocks([self.map_dock], [wanted], Qt.Orientation.Vertical)

    # ------------------------------------------------------------------ settings

    @property
    def settings(self) -> Settings:
        return self.controller.settings

    def open_settings(self) -> None:
        from automata_desktop.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self.window, path=self.settings_path,
                                webhook_url=self.controller.webhook_url)
        if dialog.exec():
            self.apply_settings(dialog.saved)

    def apply_settings(self, settings: Settings | None) -> None:
        if settings is None:
            return
        restart = self.controller.apply_settings(settings)
        if restart:
            self.window.statusBar().showMessage(
                "Settings saved; the library and webhook changes apply after a restart", 10000)
        else:
            self.window.statusBar().showMessage("Settings saved", 5000)


def _without_derived(textures: TextureSet) -> TextureSet:
    for texture in list(textures):
        if texture.source is MapSource.DERIVED:
            textures = textures.without(texture.kind)
    return textures
