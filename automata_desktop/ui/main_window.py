"""The main window: a PBR viewport in the middle, docks for generation (left) and material (right).

Extension points for the generation panel: `show_texture_set(ts)` previews any set (the viewport
updates when its maps are decoded), `open_mesh(path)` swaps the mesh, `add_left_panel` /
`add_right_panel` replace the placeholder docks. Loading and decoding run on a thread pool; the
`mesh_shown`, `textures_shown` and `idle` signals say when the viewport caught up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QIcon,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)
from pyvistaqt import QtInteractor

from automata_desktop.core.maps import MapKind
from automata_desktop.core.mesh import SUPPORTED_SUFFIXES, MeshData, load_mesh
from automata_desktop.core.pbr import PBRSettings
from automata_desktop.core.texture_set import TextureSet
from automata_desktop.errors import AutomataError
from automata_desktop.library.glb_export import GlbExport, target_material, write_scene_glb
from automata_desktop.paths import resources_dir
from automata_desktop.ui.theme import VIEWPORT_BOTTOM, VIEWPORT_TOP
from automata_desktop.ui.workers import BackgroundRunner
from automata_desktop.viewport import (
    Environment,
    MaterialView,
    PreparedTextures,
    ViewMode,
    apply_environment,
    mesh_to_polydata,
    prepare_textures,
)

log = logging.getLogger(__name__)

MODE_KEYS: dict[ViewMode, str] = {mode: str(i) for i, mode in enumerate(ViewMode, start=1)}
TURNTABLE_DEGREES_PER_TICK = 1.0
TURNTABLE_INTERVAL_MS = 33


def sample_paths() -> tuple[Path, Path]:
    """The bundled sample mesh and the folder holding its maps."""
    folder = resources_dir() / "samples"
    return folder / "sample.glb", folder


def app_icon() -> QIcon:
    icon = QIcon()
    for png in sorted((resources_dir() / "icons").glob("automata_*.png")):
        size = int(png.stem.rsplit("_", 1)[-1])
        icon.addFile(str(png), QSize(size, size))
    return icon


class MainWindow(QMainWindow):
    mesh_shown = Signal(object)  # MeshData, once it is in the viewport
    textures_shown = Signal(object)  # TextureSet, once its maps are bound
    failed = Signal(str)  # a user-facing error message
    idle = Signal()  # no loading in flight any more
    closing = Signal()  # the window is closing: owners of background services stop them
    scene_exported = Signal(object)  # GlbExport, once File → Export scene as GLB has written it
    files_dropped = Signal(object)  # [Path]: what is not a mesh or a maps folder, for the owner

    def __init__(
        self, *, environment: Environment | None = Environment.STUDIO, interactive: bool = True,
    ) -> None:
        super().__init__()
        self.setWindowTitle("AUTOMATA Desktop")
        self.setWindowIcon(app_icon())
        self.resize(1400, 860)
        self._interactive = interactive  # False: errors go to the status bar/log, no dialogs
        self._runner = BackgroundRunner(self)
        self._generation = {"mesh": 0, "textures": 0}  # newest request wins over late results
        self._applied_textures = 0
        self.mesh: MeshData | None = None
        self.texture_set: TextureSet | None = None
        # Which of the scene's materials the shown maps belong to (None: the first, see
        # library.glb_export.target_material); the per-material panel sets it. Export reads it.
        self.material_targets: tuple[int | None, ...] | None = None

        self.viewport = QtInteractor(self, auto_update=False)
        self.viewport.set_background(VIEWPORT_BOTTOM, top=VIEWPORT_TOP)
        self.viewport.enable_anti_aliasing("fxaa")
        if environment is not None:
            apply_environment(self.viewport.renderer, environment)
            # The HDRI is the light; pyvista's light kit on top of it blows out metals.
            self.viewport.remove_all_lights()
        self.setCentralWidget(self.viewport.interactor)
        self.material_view = MaterialView(self.viewport)

        self._turntable = QTimer(self)
        self._turntable.setInterval(TURNTABLE_INTERVAL_MS)
        self._turntable.timeout.connect(self._turn)

        self.left_dock = self._add_dock("Generate", Qt.DockWidgetArea.LeftDockWidgetArea,
                                        self._placeholder("Generation panel"))
        self.maps_list = QTreeWidget()
        self.maps_list.setHeaderLabels(["Map", "Size", "Source"])
        self.maps_list.setRootIsDecorated(False)
        self.maps_list.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.right_dock = self._add_dock("Material", Qt.DockWidgetArea.RightDockWidgetArea,
                                         self.maps_list)
        self._build_menus()
        self.setAcceptDrops(True)
        self.statusBar().showMessage("Ready")

    # ------------------------------------------------------------------ public API

    def open_mesh(self, path: str | Path) -> None:
        """Load a mesh file in the background and show it (errors arrive as a message)."""
        path = Path(path)
        token = self._next("mesh")
        self.statusBar().showMessage(f"Loading {path.name}…")
        self._runner.submit(
            lambda: self._load_mesh_job(path),
            lambda result: self._mesh_loaded(token, *result),
            lambda exc: self._job_failed(exc, f"Could not open {path.name}"),
        )

    def open_maps_folder(self, folder: str | Path, *, derive_missing: bool = True) -> None:
        """Preview the maps in `folder` (recognised by file name) on the current mesh.

        With `derive_missing`, maps the folder lacks are derived from its base colour.
        """
        folder = Path(folder)
        token = self._next("textures")
        self.statusBar().showMessage(f"Loading maps from {folder.name}…")
        embedded = None if self.mesh is None else self.mesh.base_color_image
        self._runner.submit(
            lambda: self._load_textures_job(TextureSet.from_folder(folder), embedded,
                                            derive_missing),
            lambda result: self._textures_loaded(token, *result),
            lambda exc: self._job_failed(exc, f"Could not load maps from {folder.name}"),
        )

    def show_texture_set(self, textures: TextureSet, *, derive_missing: bool = True,
                         settings: PBRSettings | None = None) -> None:
        """Preview a texture set (maps may still be paths: they are decoded off the UI thread).

        With `derive_missing`, absent normal/height/roughness/AO maps are derived from the base
        colour (marked "derived" in the material panel), with `settings` if given.
        """
        token = self._next("textures")
        embedded = None if self.mesh is None else self.mesh.base_color_image
        self._runner.submit(
            lambda: self._load_textures_job(textures, embedded, derive_missing, settings),
            lambda result: self._textures_loaded(token, *result),
            lambda exc: self._job_failed(exc, "Could not load the texture maps"),
        )

    def open_sample(self) -> None:
        mesh, maps = sample_paths()
        self.open_mesh(mesh)
        self.open_maps_folder(maps)

    def set_view_mode(self, mode: ViewMode) -> None:
        self.material_view.set_mode(mode)
        self._mode_actions[mode].setChecked(True)
        self.statusBar().showMessage(f"View: {mode.label}", 3000)
        self.viewport.render()

    def set_wireframe(self, visible: bool) -> None:
        self.material_view.set_wireframe(visible)
        self._wireframe_action.setChecked(visible)
        self.viewport.render()

    def frame_mesh(self) -> None:
        self.viewport.reset_camera()
        self.viewport.render()

    def set_turntable(self, running: bool) -> None:
        self._turntable_action.setChecked(running)
        if running:
            self._turntable.start()
        else:
            self._turntable.stop()

    def save_screenshot(self, path: str | Path) -> Path:
        """Render now and save the whole window (viewport included) as a PNG."""
        path = Path(path)
        self.viewport.render()
        if not self.grab().save(str(path)):
            raise AutomataError(f"Could not write the screenshot to {path}")
        return path

    def add_left_panel(self, widget: QWidget, title: str = "Generate") -> None:
        self.left_dock.setWidget(widget)
        self.left_dock.setWindowTitle(title)

    def add_right_panel(self, widget: QWidget, title: str = "Material") -> None:
        self.right_dock.setWidget(widget)
        self.right_dock.setWindowTitle(title)

    def add_dock(self, title: str, widget: QWidget,
                 area: Qt.DockWidgetArea = Qt.DockWidgetArea.BottomDockWidgetArea) -> QDockWidget:
        """Another dock (library, map view); its toggle goes into the View menu."""
        dock = self._add_dock(title, area, widget)
        self._view_menu.addAction(dock.toggleViewAction())
        return dock

    @property
    def busy(self) -> bool:
        return self._runner.busy

    def show_error(self, message: str) -> None:
        """Tell the user, never with a traceback: status bar always, a dialog when interactive."""
        log.warning("%s", message)
        self.statusBar().showMessage(message)
        self.failed.emit(message)
        if self._interactive:
            box = QMessageBox(QMessageBox.Icon.Warning, "AUTOMATA Desktop", message,
                              QMessageBox.StandardButton.Ok, self)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()

    # ------------------------------------------------------------------ background jobs

    @staticmethod
    def _load_mesh_job(path: Path) -> tuple[MeshData, object]:
        mesh = load_mesh(path)
        return mesh, mesh_to_polydata(mesh)

    @staticmethod
    def _load_textures_job(
        textures: TextureSet, embedded: object, derive_missing: bool,
        settings: PBRSettings | None = None,
    ) -> tuple[TextureSet, PreparedTextures]:
        loaded = textures.loaded()
        if derive_missing:
            loaded = loaded.with_derived_maps(settings)
        prepared = prepare_textures(loaded, embedded)
        # VTK holds its own (flipped) copy now: keep thumbnails, re-read files when needed.
        return loaded.released(), prepared

    def _next(self, kind: str) -> int:
        self._generation[kind] += 1
        return self._generation[kind]

    def _mesh_loaded(self, token: int, mesh: MeshData, polydata: object) -> None:
        if token == self._generation["mesh"]:
            first = self.mesh is None
            self.mesh = mesh
            self.material_view.set_mesh(polydata)
            if mesh.base_color_image is not None and not self._textures_in_flight and (
                self.texture_set is None or MapKind.BASE_COLOR not in self.texture_set
            ):
                # (A set still loading must not be superseded; _textures_loaded adds the colour.)
                self.show_texture_set(self.texture_set or TextureSet())
            # Camera moves go through the renderer: the plotter's wrappers (`reset_camera`, the
            # first `camera` access) render regardless of render=False, one frame each, and a
            # frame of a million triangles is a quarter second of frozen UI in software GL.
            renderer = self.viewport.renderer
            if first:
                renderer.view_isometric(render=False)
                renderer.camera.azimuth += 20
            renderer.reset_camera(render=False)
            renderer.camera.zoom(0.8)  # leave a margin around the mesh
            renderer.camera.is_set = True
            self.viewport.render()
            notes = " ".join(mesh.notices)
            self.statusBar().showMessage(
                f"{mesh.source.name if mesh.source else 'Mesh'}: {mesh.triangle_count:,} triangles"
                + (f". {notes}" if notes else "")
            )
            self.mesh_shown.emit(mesh)
        self._maybe_idle()

    @property
    def _textures_in_flight(self) -> bool:
        return self._applied_textures < self._generation["textures"]

    def _textures_loaded(self, token: int, textures: TextureSet, prepared: PreparedTextures) -> None:
        if token == self._generation["textures"]:
            self._applied_textures = token
            if (prepared.base_color is None and self.mesh is not None
                    and self.mesh.base_color_image is not None):
                # The mesh arrived while this set was loading: bind its embedded colour too.
                self.show_texture_set(textures, derive_missing=False)
            self.texture_set = textures
            self.material_view.set_textures(prepared)
            self._list_maps(textures)
            self.viewport.render()
            kinds = ", ".join(k.value for k in textures.kinds) or "no maps"
            self.statusBar().showMessage(f"Material: {kinds}", 5000)
            self.textures_shown.emit(textures)
        self._maybe_idle()

    def _job_failed(self, exc: BaseException, context: str) -> None:
        if isinstance(exc, AutomataError):
            self.show_error(str(exc))
        else:  # a bug, not bad input: keep the details in the log, give the user the gist
            log.error("%s", context, exc_info=exc)
            self.show_error(f"{context}: {type(exc).__name__}: {exc}")
        self._maybe_idle()

    def _maybe_idle(self) -> None:
        if not self._runner.busy:
            self.idle.emit()

    # ------------------------------------------------------------------ widgets

    def _list_maps(self, textures: TextureSet) -> None:
        self.maps_list.clear()
        for kind in textures.kinds:
            texture = textures.maps[kind]
            size = f"{texture.size[0]}×{texture.size[1]}" if texture.size else ""
            item = QTreeWidgetItem([kind.value.replace("_", " "), size, texture.source.value])
            item.setToolTip(0, str(texture.path) if texture.path else "in memory")
            self.maps_list.addTopLevelItem(item)

    def _placeholder(self, text: str) -> QLabel:
        label = QLabel(f"{text}\n(coming soon)")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setEnabled(False)
        return label

    def _add_dock(self, title: str, area: Qt.DockWidgetArea, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        dock.setMinimumWidth(260)
        self.addDockWidget(area, dock)
        return dock

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open mesh…", QKeySequence.StandardKey.Open, self._ask_mesh)
        self._action(file_menu, "Open &maps folder…", "Ctrl+Shift+O", self._ask_maps)
        self._action(file_menu, "Open &sample", None, self.open_sample)
        file_menu.addSeparator()
        self._action(file_menu, "Save &screenshot…", "Ctrl+Shift+S", self._ask_screenshot)
        self._action(file_menu, "&Export scene as GLB…", "Ctrl+E", self._ask_export_glb)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)

        view_menu = self.menuBar().addMenu("&View")
        self._view_menu = view_menu
        group = QActionGroup(self)
        self._mode_actions: dict[ViewMode, QAction] = {}
        for mode, key in MODE_KEYS.items():
            action = self._action(view_menu, mode.label, key,
                                  lambda _=False, m=mode: self.set_view_mode(m))
            action.setCheckable(True)
            action.setChecked(mode == ViewMode.LIT)
            group.addAction(action)
            self._mode_actions[mode] = action
        view_menu.addSeparator()
        self._wireframe_action = self._action(view_menu, "&Wireframe overlay", "W",
                                              self.set_wireframe)
        self._wireframe_action.setCheckable(True)
        self._action(view_menu, "&Frame mesh", "F", self.frame_mesh)
        self._turntable_action = self._action(view_menu, "&Turntable", "T", self.set_turntable)
        self._turntable_action.setCheckable(True)
        view_menu.addSeparator()
        view_menu.addAction(self.left_dock.toggleViewAction())
        view_menu.addAction(self.right_dock.toggleViewAction())

        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&About AUTOMATA Desktop", None, self.show_about)

    def about_text(self) -> str:
        from automata_desktop import __version__

        return (f"<b>AUTOMATA Desktop {__version__}</b><p>AI texturing with ComfyUI, PBR maps "
                "previewed on your mesh, a local library that works offline.</p>")

    def show_about(self) -> None:
        QMessageBox.about(self, "About AUTOMATA Desktop", self.about_text())

    def _action(
        self, menu: QMenu, text: str, shortcut: QKeySequence.StandardKey | str | None,
        slot: Callable[..., object],
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            # Window-wide: the VTK widget has focus most of the time and eats plain key presses.
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)
        return action

    def _ask_mesh(self) -> None:
        patterns = " ".join(f"*{s}" for s in SUPPORTED_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Open mesh", "", f"Meshes ({patterns})")
        if path:
            self.open_mesh(path)

    def _ask_maps(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open maps folder")
        if folder:
            self.open_maps_folder(folder)

    def _ask_screenshot(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", "automata.png",
                                              "PNG image (*.png)")
        if path:
            try:
                self.save_screenshot(path)
            except AutomataError as exc:
                self.show_error(str(exc))
            else:
                self.statusBar().showMessage(f"Saved {path}", 5000)

    def export_scene_glb(self, path: str | Path) -> None:
        """Write the open scene as a GLB, the shown maps on their target material (off the Qt thread).

        Every other material is written as the file had it. The viewport shows normal maps as
        OpenGL (+Y), so that is what the shown maps are taken to be.
        """
        scene = None if self.mesh is None else self.mesh.scene
        if scene is None:
            self.show_error("There is no scene to export: open a mesh first (File → Open mesh…)")
            return
        target = Path(path)
        if target.suffix.lower() != ".glb":
            target = target.with_name(target.name + ".glb")
        textures, chosen = self.texture_set, self.material_targets

        def job() -> GlbExport:
            notices: list[str] = []
            materials: dict[int | None, TextureSet] = {}
            if textures is not None and len(textures):
                targets = chosen
                if targets is None:
                    first, notices = target_material(scene)
                    targets = (first,)
                loaded = textures.loaded()
                materials = {index: loaded for index in targets}
            result = write_scene_glb(scene, target, materials)
            return replace(result, notices=(*notices, *result.notices))

        def done(result: GlbExport) -> None:
            notes = " ".join(result.notices)
            self.statusBar().showMessage(f"Exported {target.name}" + (f". {notes}" if notes else ""),
                                         8000)
            self.scene_exported.emit(result)
            self._maybe_idle()

        self.statusBar().showMessage(f"Exporting {target.name}…")
        self._runner.submit(job, done,
                            lambda exc: self._job_failed(exc, f"Could not export {target.name}"))

    def _ask_export_glb(self) -> None:
        if self.mesh is None or self.mesh.scene is None:
            self.show_error("There is no scene to export: open a mesh first (File → Open mesh…)")
            return
        stem = self.mesh.source.stem if self.mesh.source else "scene"
        path, _ = QFileDialog.getSaveFileName(self, "Export scene as GLB", f"{stem}.glb",
                                              "glTF binary (*.glb)")
        if path:
            self.export_scene_glb(path)

    def _turn(self) -> None:
        self.viewport.camera.azimuth += TURNTABLE_DEGREES_PER_TICK
        self.viewport.render()

    # ------------------------------------------------------------------ drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """A mesh opens, a folder opens as a maps folder; anything else (a workflow, an image
        ComfyUI saved) goes to whoever listens to `files_dropped`."""
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        event.acceptProposedAction()
        rest = []
        for path in paths:
            if path.is_dir():
                self.open_maps_folder(path)
            elif path.suffix.lower() in SUPPORTED_SUFFIXES:
                self.open_mesh(path)
            else:
                rest.append(path)
        if rest:
            self.files_dropped.emit(rest)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.closing.emit()
        self._turntable.stop()
        self.viewport.close()
        super().closeEvent(event)
