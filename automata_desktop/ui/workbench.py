"""Puts the generation panel, material inspector, library and map view into a MainWindow and wires
them to one RuntimeBridge: finished generations land on the mesh, the library follows the queue."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu

from automata_desktop import services
from automata_desktop.config import LOCAL_SERVER, Settings
from automata_desktop.core.generation import Generation
from automata_desktop.core.maps import PBR_MAPS, MapKind, infer_map_kind
from automata_desktop.core.pbr import PBRSettings
from automata_desktop.core.texture_set import IMAGE_SUFFIXES, MapSource, TextureMap, TextureSet
from automata_desktop.core.workflow import WorkflowTemplate, load_workflow
from automata_desktop.errors import AutomataError
from automata_desktop.jobs.models import GenerationRequest, JobUpdate
from automata_desktop.library.store import Library
from automata_desktop.runtime import all_workflows
from automata_desktop.ui.account_panel import AccountController
from automata_desktop.ui.bridge import RuntimeBridge
from automata_desktop.ui.generation_panel import GenerationPanel
from automata_desktop.ui.library_browser import LibraryBrowser
from automata_desktop.ui.main_window import MainWindow
from automata_desktop.ui.map_view import MapView
from automata_desktop.ui.material_inspector import MaterialInspector
from automata_desktop.ui.workers import BackgroundRunner
from automata_desktop.ui.workflow_import_dialog import WorkflowImportDialog
from automata_desktop.workflow_import import ImportResult, save_parameters

log = logging.getLogger(__name__)

#: Maps that only exist packed in ORM once one of them is replaced: ORM would shadow the new file.
ORM_PARTS = {MapKind.AO, MapKind.ROUGHNESS, MapKind.METALLIC}
MAP_DOCK_HEIGHT = 380
LEFT_DOCK_WIDTH = 420


def texture_set_of(gen: Generation) -> TextureSet:
    """A generation's maps, by the kind the library recorded; the newest file of a kind wins
    (a map replaced or pulled later is stored beside the old one, by content hash)."""
    maps: dict[MapKind, TextureMap] = {}
    for file in reversed(gen.files):
        if file.kind in PBR_MAPS and file.kind not in maps and file.path.exists():
            maps[file.kind] = TextureMap(file.kind, MapSource(file.source), path=file.path)
    return TextureSet(maps, name=gen.prompt[:40] or gen.workflow)


def request_from_generation(gen: Generation,
                            workflows: dict[str, WorkflowTemplate]) -> GenerationRequest:
    """The request that reproduces a generation: same workflow, server and parameters (seed too)."""
    template = workflows.get(gen.workflow)
    if template is None:
        raise AutomataError(f"The workflow {gen.workflow!r} of this generation is not installed any "
                            "more; it cannot be re-run.")
    params = dict(gen.parameters)
    image = None
    stored = params.get("image")
    # Local runs record the image's path; server runs the uploaded name, which the server still has.
    if isinstance(stored, str) and (gen.server == LOCAL_SERVER or Path(stored).is_absolute()):
        if Path(stored).is_file():
            image = Path(params.pop("image"))
        elif gen.server == LOCAL_SERVER:
            raise AutomataError(f"The reference image {stored} is gone; pick it again to re-run.")
    return GenerationRequest(workflow=template, server=gen.server, parameters=params, image=image)


class Workbench(QObject):
    def __init__(self, window: MainWindow, settings: Settings, *, listen: bool = True,
                 workflows: dict[str, WorkflowTemplate] | None = None,
                 settings_path: Path | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.settings = settings
        self.settings_path = settings_path
        self.workflows = workflows if workflows is not None else all_workflows()
        self._runner = BackgroundRunner(self)
        self.bridge = RuntimeBridge(settings, listen=listen, parent=self)

        self.generation = GenerationPanel(self.bridge, settings, self.workflows)
        window.add_left_panel(self.generation)
        self.inspector = MaterialInspector()
        window.add_right_panel(self.inspector)
        self.library = LibraryBrowser(self._library)
        self.library_dock = window.add_dock("Library", self.library)
        self.map_view = MapView()
        self.map_dock = window.add_dock("Map view", self.map_view)
        window.tabifyDockWidget(self.library_dock, self.map_dock)
        self.library_dock.raise_()
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
        self.generation.completed.connect(self._generation_completed)
        self.generation.message_shown.connect(
            lambda level, text: window.statusBar().showMessage(text.splitlines()[0], 8000))
        self.bridge.update.connect(self._job_update)
        self.bridge.started.connect(lambda _: self.library.refresh())
        self.bridge.start_failed.connect(window.show_error)
        self.inspector.replace_requested.connect(self.replace_map)
        self.inspector.rederive_requested.connect(self.rederive)
        self.inspector.factors_changed.connect(self.set_factors)
        self.inspector.view_requested.connect(self.view_map)
        self.library.open_requested.connect(self.open_generation)
        self.library.rerun_requested.connect(self.rerun)
        self.library.message.connect(lambda text: window.statusBar().showMessage(text, 8000))
        self.account = AccountController(self.bridge, window)
        self.library.delivery = self.account.delivery
        self.library.deleted.connect(self.account.generation_deleted)
        self.account.library_changed.connect(self._library_refresh.start)
        self.account.message.connect(lambda text: window.statusBar().showMessage(text, 10000))
        window.closing.connect(self.bridge.stop)
        window.files_dropped.connect(self.files_dropped)
        self.import_dialog: WorkflowImportDialog | None = None
        self._add_menu()
        self.bridge.start()

    def _size_docks(self) -> None:
        """The 3D view keeps at least about half of a small window."""
        width, height = self.window.width(), self.window.height()
        self.window.resizeDocks([self.library_dock], [min(220, height // 4)],
                                Qt.Orientation.Vertical)
        self.window.resizeDocks([self.window.left_dock, self.window.right_dock],
                                [min(LEFT_DOCK_WIDTH, width * 3 // 10), min(300, width // 5)],
                                Qt.Orientation.Horizontal)

    def _library(self) -> Library | None:
        """Resolved on each call: the runtime starts asynchronously and may be restarted."""
        runtime = self.bridge.runtime
        return None if runtime is None else runtime.library

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
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Import a ComfyUI workflow", "",
            "ComfyUI workflows (*.json *.png *.webp);;All files (*)")
        if path:
            self.import_workflows([Path(path)])

    def _reimport_with_webhook(self, result: ImportResult) -> None:
        assert result.source_path is not None
        path, server = result.source_path, self.generation.server_url
        self.bridge.call(
            lambda _rt: services.import_workflow_file(path, server, name=result.name,
                                                      add_webhook=True),
            self._workflow_imported, lambda exc: self._import_failed(path, exc))

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
            self.bridge.call(lambda _rt, p=path: services.import_workflow_file(p, server),
                             self._workflow_imported,
                             lambda exc, p=path: self._import_failed(p, exc))

    def _import_failed(self, path: Path, exc: BaseException) -> None:
        text = str(exc) if isinstance(exc, AutomataError) else f"{type(exc).__name__}: {exc}"
        self.generation.show_message(f"Could not import {path.name}: {text}", "error")
        self.window.statusBar().showMessage(f"Could not import {path.name}", 10000)

    def _workflow_imported(self, imported: services.ImportedWorkflow) -> None:
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
        def save() -> WorkflowTemplate:
            save_parameters(result, parameters)
            return load_workflow(result.path)

        self._runner.submit(save, self._show_template,
                            lambda exc: self._import_failed(result.path, exc))

    def _show_template(self, template: WorkflowTemplate) -> None:
        self.workflows[template.name] = template
        self.generation.add_workflow(template)

    # ------------------------------------------------------------------ generations

    def _job_update(self, update: JobUpdate, _preview: object) -> None:
        if update.status.is_final or update.message == "queued":
            self._library_refresh.start()

    def _generation_completed(self, update: JobUpdate) -> None:
        """Show the new maps on the mesh without the user asking (missing maps are derived)."""
        library = self._library()
        if library is None:
            return
        self._runner.submit(lambda: library.get(update.generation_id),
                            lambda gen: gen is not None and self.show_generation(gen),
                            lambda exc: self.window.show_error(str(exc)))

    def show_generation(self, gen: Generation, *, with_mesh: bool = False,
                        apply: bool = False) -> None:
        """A generation's maps onto the selected material; maps the user replaced by hand stay
        unless `apply` (opening the generation from the library is asking for all of it)."""
        textures = texture_set_of(gen)
        mesh = next((f.path for f in gen.files if f.kind is MapKind.MESH and f.path.exists()), None)
        if with_mesh and mesh is not None:
            self.window.open_mesh(mesh)
        if len(textures) == 0:
            self.window.statusBar().showMessage("This generation has no texture maps to show", 8000)
            return
        self.window.show_generated_set(textures, apply=apply)

    def open_generation(self, gen: Generation) -> None:
        self.show_generation(gen, with_mesh=True, apply=True)

    def rerun(self, gen: Generation) -> None:
        try:
            request = request_from_generation(gen, self.workflows)
        except AutomataError as exc:
            self.generation.show_message(str(exc), "error")
            return
        self.generation.send(request)

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
        if self.map_dock.height() < MAP_DOCK_HEIGHT:  # a map needs more room than the library list
            self.window.resizeDocks([self.map_dock], [MAP_DOCK_HEIGHT], Qt.Orientation.Vertical)
        self.map_view.show_kind(kind)

    # ------------------------------------------------------------------ settings

    def open_settings(self) -> None:
        from automata_desktop.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self.window, path=self.settings_path,
                                webhook_url=self._webhook_url())
        if dialog.exec():
            self.apply_settings(dialog.saved)

    def apply_settings(self, settings: Settings | None) -> None:
        if settings is None:
            return
        restart = (settings.library_path != self.settings.library_path
                   or settings.webhook_port != self.settings.webhook_port
                   or settings.webhook_host != self.settings.webhook_host
                   or settings.webhook_secret != self.settings.webhook_secret)
        sync_changed = (settings.supabase_url != self.settings.supabase_url
                        or settings.supabase_anon_key != self.settings.supabase_anon_key)
        self.settings = settings
        self.generation.set_servers(settings)
        self.generation.refresh_status()
        if sync_changed:
            self.bridge.call(lambda rt: rt.reconfigure_sync(settings),
                             lambda _: self.account.settings_changed(),
                             lambda exc: self.window.show_error(f"Sync: {exc}"))
        if restart:
            self.window.statusBar().showMessage(
                "Settings saved; the library and webhook changes apply after a restart", 10000)
        else:
            self.window.statusBar().showMessage("Settings saved", 5000)

    def _webhook_url(self) -> str | None:
        runtime = self.bridge.runtime
        return None if runtime is None else runtime.engine.webhook_url


def _without_derived(textures: TextureSet) -> TextureSet:
    for texture in list(textures):
        if texture.source is MapSource.DERIVED:
            textures = textures.without(texture.kind)
    return textures
