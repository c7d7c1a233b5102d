"""The main window: a PBR viewport in the middle, docks for generation (left) and material (right).

A mesh file opens as a scene (core.scene): one actor per material, each shaded from its own maps
(the file's embedded ones until a generation or the user replaces them) and framed from the front
with the file's up axis up. Maps the window is asked to show go onto the selected material (or every
material sharing its UV set, `share_uv_set`); the others keep theirs.

Extension points for the generation panel: `show_texture_set(ts)` previews any set on the selected
material (the viewport updates when its maps are decoded), `show_generated_set(ts)` the same for a
generation's result (maps the user replaced by hand stay), `open_mesh(path)` swaps the scene,
`add_left_panel` / `add_right_panel` replace the placeholder docks. Loading and decoding run on a
thread pool; the `mesh_shown`, `textures_shown` and `idle` signals say when the viewport caught up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
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
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)
from pyvistaqt import QtInteractor
from vtkmodules.util.numpy_support import vtk_to_numpy

from automata_desktop.config import ConfigError, ViewPrefs, load_view_prefs, save_view_prefs
from automata_desktop.core.maps import PBR_MAPS, MapKind, infer_map_kind
from automata_desktop.core.material import DEFAULT_MATERIAL
from automata_desktop.core.pbr import PBRSettings
from automata_desktop.core.scene import UP_AXES, Scene, default_up_axis
from automata_desktop.core.scene_io import SUPPORTED_SUFFIXES, load_scene
from automata_desktop.core.scene_maps import Merge, SceneMaps
from automata_desktop.core.texture_set import (
    IMAGE_SUFFIXES,
    MapSource,
    TextureSet,
)
from automata_desktop.errors import AutomataError
from automata_desktop.library.glb_export import GlbExport, write_scene_glb
from automata_desktop.paths import resources_dir
from automata_desktop.ui import file_dialogs
from automata_desktop.ui.display_panel import DisplayPanel
from automata_desktop.ui.theme import VIEWPORT_BOTTOM, VIEWPORT_TOP
from automata_desktop.ui.workers import BackgroundRunner
from automata_desktop.viewport import (
    Environment,
    MaterialView,
    PreparedTextures,
    ViewMode,
    prepare_textures,
)
from automata_desktop.viewport.camera import NAMED_VIEW_KEYS, NamedView, look_at
from automata_desktop.viewport.displacement import displaced_copy
from automata_desktop.viewport.environment import Lighting, LightingError, LightingView
from automata_desktop.viewport.memory import return_freed_memory
from automata_desktop.viewport.scene_view import (
    MaterialKey,
    MaterialLook,
    ScenePart,
    SceneView,
    embedded_textures,
    scene_parts,
    uv_bake_notices,
)

log = logging.getLogger(__name__)

MODE_KEYS: dict[ViewMode, str] = {mode: str(i) for i, mode in enumerate(ViewMode, start=1)}
TURNTABLE_DEGREES_PER_TICK = 1.0
TURNTABLE_INTERVAL_MS = 33
#: Loads shorter than this show no busy bar (it would only flicker).
LOAD_PROGRESS_DELAY_MS = 500
#: A press and release closer than this (pixels) is a click that picks, not an orbit.
PICK_SLOP_PX = 4
#: Maps whose kinds overlap ORM's: a new one of these drops an old ORM, and the other way round.


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
    mesh_shown = Signal(object)  # Scene, once it is in the viewport
    textures_shown = Signal(object)  # TextureSet of the selected material, once its maps are bound
    materials_changed = Signal(object)  # [(MaterialKey, name)] of the shown scene
    material_selected = Signal(object)  # MaterialKey the Material panel shows
    failed = Signal(str)  # a user-facing error message
    idle = Signal()  # no loading in flight any more
    closing = Signal()  # the window is closing: owners of background services stop them
    scene_exported = Signal(object)  # GlbExport, once File → Export scene as GLB has written it
    files_dropped = Signal(object)  # [Path]: what is not a mesh or a maps folder, for the owner

    def __init__(
        self, *, environment: Environment | None = Environment.STUDIO, interactive: bool = True,
        prefs_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("AUTOMATA Desktop")
        self.setWindowIcon(app_icon())
        self.resize(1400, 860)
        self._interactive = interactive  # False: errors go to the status bar/log, no dialogs
        self._prefs_path = prefs_path
        self.prefs: ViewPrefs = load_view_prefs(prefs_path)
        self._runner = BackgroundRunner(self)
        # Newest request wins over late results.
        self._generation = {"mesh": 0, "textures": 0, "displacement": 0}
        self._shown_mesh = 0  # the mesh request whose scene is on screen
        self._material_tokens: dict[MaterialKey, int] = {}
        self._deferred: list[Callable[[], None]] = []  # map requests waiting for a loading mesh
        #: the scene and each material's maps: the one owner of that state (core, no Qt)
        self.state = SceneMaps()
        self.parts: dict[MaterialKey, ScenePart] = {}
        self._looks: dict[MaterialKey, MaterialLook] = {}
        self.selected_material: MaterialKey = None
        # False: maps go onto the selected material only; True: onto every material laid out in
        # the same UV set of the same mesh (a model split into materials over one atlas).
        self.share_uv_set = False

        self.viewport = QtInteractor(self, auto_update=False)
        self.viewport.set_background(VIEWPORT_BOTTOM, top=VIEWPORT_TOP)
        self.viewport.enable_anti_aliasing("fxaa")
        self.lighting_view: LightingView | None = None
        if environment is not None:
            self.lighting_view = LightingView(self.viewport.renderer)
            prefs = self.prefs
            chosen = prefs.hdri if environment is Environment.STUDIO else environment.value
            # Convolving the HDRI costs most of a second under llvmpipe, on the first render
            # after it is set: it is set once the (empty) window has drawn its first frame, so
            # the window shows that much sooner. Nothing PBR is on screen before then.
            self.lighting_view.lighting = Lighting(chosen, prefs.hdri_rotation, prefs.exposure,
                                                   prefs.show_background)
            self._first_frame = self.viewport.ren_win.AddObserver("EndEvent",
                                                                  self._after_first_frame)
            # The HDRI is the light; pyvista's light kit on top of it blows out metals.
            self.viewport.remove_all_lights()
        self._tiling = (1.0, 1.0)
        self._displacement = 0.0
        self._base_uvs: dict[MaterialKey, np.ndarray] = {}
        self.setCentralWidget(self.viewport.interactor)
        self.scene_view = SceneView(self.viewport)
        self._no_view = MaterialView(self.viewport)  # stands in before any mesh is open
        self._press: tuple[int, int] | None = None
        interactor = self.viewport.iren.interactor
        interactor.AddObserver("LeftButtonPressEvent", self._on_press)
        interactor.AddObserver("LeftButtonReleaseEvent", self._on_release)

        self._turntable = QTimer(self)
        self._turntable.setInterval(TURNTABLE_INTERVAL_MS)
        self._turntable.timeout.connect(self._turn)

        self.left_dock = self._add_dock("Generate", Qt.DockWidgetArea.LeftDockWidgetArea,
                                        self._placeholder("Generation panel"))
        self.materials_list = QListWidget()
        self.materials_list.currentItemChanged.connect(self._material_row_chosen)
        self.maps_list = QTreeWidget()
        self.maps_list.setHeaderLabels(["Map", "Size", "Source"])
        self.maps_list.setRootIsDecorated(False)
        self.maps_list.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        panel = QSplitter(Qt.Orientation.Vertical)
        panel.addWidget(self.materials_list)
        panel.addWidget(self.maps_list)
        self.right_dock = self._add_dock("Material", Qt.DockWidgetArea.RightDockWidgetArea, panel)
        self.display_panel = DisplayPanel(
            self.lighting_view.lighting if self.lighting_view is not None else Lighting())
        self.display_panel.lighting_changed.connect(self.set_lighting)
        self.display_panel.tiling_changed.connect(self.set_tiling)
        self.display_panel.displacement_changed.connect(self.set_displacement)
        self.display_dock = self._add_dock("Display", Qt.DockWidgetArea.RightDockWidgetArea,
                                           self.display_panel)
        self.tabifyDockWidget(self.right_dock, self.display_dock)
        self.right_dock.raise_()
        self._build_menus()
        self.setAcceptDrops(True)
        # Loading longer than a moment shows a busy bar beside the status text ("Loading …").
        self.load_progress = QProgressBar()
        self.load_progress.setRange(0, 0)
        self.load_progress.setMaximumWidth(160)
        self.load_progress.setFixedHeight(14)
        self.load_progress.hide()
        self.statusBar().addPermanentWidget(self.load_progress)
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(LOAD_PROGRESS_DELAY_MS)
        self._progress_timer.timeout.connect(self._show_progress)
        self.statusBar().showMessage("Ready")

    # ------------------------------------------------------------------ public API

    @property
    def scene(self) -> Scene | None:
        return self.state.scene

    @property
    def materials(self) -> dict[MaterialKey, TextureSet]:
        """Each material's shown maps."""
        return self.state.shown

    @property
    def mesh(self) -> Scene | None:
        """The shown scene (the name predates scenes: panels read `.source`, `.triangle_count`)."""
        return self.scene

    @property
    def texture_set(self) -> TextureSet | None:
        """The selected material's maps (None while it has none: nothing to show or export)."""
        return self.materials.get(self.selected_material) or None

    @property
    def material_view(self) -> MaterialView:
        """The selected material's actor and VTK property."""
        return self.scene_view.views.get(self.selected_material, self._no_view)

    def material_names(self) -> list[tuple[MaterialKey, str]]:
        return [(key, part.name) for key, part in self.parts.items()]

    def open_mesh(self, path: str | Path, *, up_axis: str | None = None) -> None:
        """Load a mesh file in the background and show it (errors arrive as a message).

        `up_axis` None: the user's remembered override for this file, else its format's default.
        """
        path = Path(path)
        token = self._next("mesh")
        axis = up_axis or self.prefs.up_axis_for(path)
        self.statusBar().showMessage(f"Loading {path.name}…")
        self._progress_timer.start()
        self._runner.submit(
            lambda: self._load_scene_job(path, axis),
            lambda result: self._scene_loaded(token, path, *result),
            lambda exc: self._mesh_failed(token, exc, f"Could not open {path.name}"),
        )

    def open_maps_folder(self, folder: str | Path, *, derive_missing: bool = True) -> None:
        """Put the maps in `folder` (recognised by file name) on the selected material.

        With `derive_missing`, maps the material then lacks are derived from its base colour.
        """
        folder = Path(folder)
        self.statusBar().showMessage(f"Loading maps from {folder.name}…")
        try:
            found = TextureSet.from_folder(folder)
        except AutomataError as exc:
            self.show_error(str(exc))
            return
        self.show_texture_set(found, derive_missing=derive_missing, merge="set",
                              context=f"Could not load maps from {folder.name}")

    def open_map_files(self, paths: list[Path]) -> list[Path]:
        """Image files onto the selected material, each as the kind its name says.

        Returns the files whose names say no map kind (they are left alone).
        """
        known = TextureSet.from_files(paths)
        unknown = [p for p in paths if infer_map_kind(Path(p).name) not in PBR_MAPS
                   or Path(p).suffix.lower() not in IMAGE_SUFFIXES]
        if len(known):
            self.show_texture_set(known, derive_missing=False, merge="layer", pin=known.kinds)
        return unknown

    def show_texture_set(self, textures: TextureSet, *, derive_missing: bool = True,
                         settings: PBRSettings | None = None, merge: Merge = None,
                         keep_pinned: bool = False, pin: Iterable[MapKind] = (),
                         context: str = "") -> None:
        """Show a texture set on the selected material (maps may still be paths: they are
        decoded off the UI thread).

        `merge` (see `merged_set`) None: the set is the material's whole set. With
        `derive_missing`, absent normal/height/roughness/AO maps are derived from the base colour
        (marked "derived"), with `settings` if given. `keep_pinned` keeps the maps the user
        replaced by hand; `pin` marks kinds of `textures` as replaced by hand.
        """
        if self._mesh_in_flight:
            # The scene these maps are meant for is still loading: apply them to it, not to the
            # one it replaces (File → Open sample asks for both at once).
            self._deferred.append(lambda: self.show_texture_set(
                textures, derive_missing=derive_missing, settings=settings, merge=merge,
                keep_pinned=keep_pinned, pin=pin, context=context))
            return
        token = self._next("textures")
        for key, combined in self.state.incoming(self._targets(), textures, merge=merge,
                                                 keep_pinned=keep_pinned, pin=pin).items():
            self._load_material(key, combined, token, derive_missing=derive_missing,
                                settings=settings, context=context)

    def _load_material(self, key: MaterialKey, textures: TextureSet, token: int, *,
                       derive_missing: bool, settings: PBRSettings | None = None,
                       context: str = "") -> None:
        """Decode `textures` off the Qt thread and bind them to `key` (unless overtaken)."""
        look = self._looks.get(key, MaterialLook())
        self._material_tokens[key] = token
        if not self._progress_timer.isActive() and self.load_progress.isHidden():
            self._progress_timer.start()
        self._runner.submit(
            lambda: self._load_textures_job(textures, derive_missing, settings, look),
            lambda result: self._textures_loaded(token, key, *result),
            lambda exc: self._job_failed(exc, context or "Could not load the texture maps"),
        )

    def drop_maps(self, paths: Collection[Path]) -> bool:
        """Take maps read from `paths` (deleted with their generation) off every material.

        Maps derived from a removed base colour go with it, and a slot falls back to the file's
        own map where the file had one. Returns whether any material changed.
        """
        token = self._next("textures")
        changed = self.state.without_files(paths)
        for key, kept in changed.items():
            self._load_material(key, kept, token, derive_missing=False)
        return bool(changed)

    def show_generated_set(self, textures: TextureSet, *, apply: bool = False) -> None:
        """A generation's maps onto the selected material: maps it lacks are derived, the file's
        own maps stay under it, and a map the user replaced by hand stays unless `apply`."""
        self.show_texture_set(textures, derive_missing=True, merge="set", keep_pinned=not apply)

    def select_material(self, key: MaterialKey) -> None:
        """Make `key` the material the panel shows and new maps go onto."""
        if key not in self.parts or key == self.selected_material:
            return
        self.selected_material = key
        row = list(self.parts).index(key)
        if self.materials_list.currentRow() != row:
            self.materials_list.setCurrentRow(row)
        self.material_selected.emit(key)
        textures = self.materials.get(key, TextureSet())
        self._list_maps(textures)
        self.textures_shown.emit(textures)
        self.statusBar().showMessage(f"Material: {self.parts[key].name}", 5000)

    def pick_material(self, x: int, y: int) -> MaterialKey | None:
        """Select the material under display pixel (x, y) (VTK's origin: bottom-left)."""
        from vtkmodules.vtkRenderingCore import vtkPropPicker

        picker = vtkPropPicker()
        if not picker.Pick(x, y, 0, self.viewport.renderer):
            return None
        key = self.scene_view.material_of_actor(picker.GetActor())
        if key is not None or picker.GetActor() is not None:
            self.select_material(key)
        return key

    def open_sample(self) -> None:
        mesh, maps = sample_paths()
        self.open_mesh(mesh)
        self.open_maps_folder(maps)

    def set_view_mode(self, mode: ViewMode) -> None:
        self.scene_view.set_mode(mode)
        self._no_view.set_mode(mode)
        self._mode_actions[mode].setChecked(True)
        self.statusBar().showMessage(f"View: {mode.label}", 3000)
        self.viewport.render()

    def set_wireframe(self, visible: bool) -> None:
        self.scene_view.set_wireframe(visible)
        self._wireframe_action.setChecked(visible)
        self.viewport.render()

    def set_view(self, view: NamedView | str) -> None:
        """Look at the scene from a named side (Front, Top, ...) with its up axis up."""
        if self.scene is None:
            return
        look_at(self.viewport.renderer, self.scene.bounds, NamedView(view),
                self.scene.up_vector, self.scene.front_vector)
        self.viewport.renderer.camera.is_set = True
        self.viewport.render()

    def reset_view(self) -> None:
        """Back to the view a newly opened scene gets: from the front, framed."""
        self.set_view(NamedView.FRONT)

    def frame_mesh(self) -> None:
        """Fit the scene in the view, keeping the direction the camera looks from."""
        if self.scene is not None:
            low, high = self.scene.bounds
            self.viewport.renderer.ResetCamera(low[0], high[0], low[1], high[1], low[2], high[2])
        else:
            self.viewport.renderer.ResetCamera()
        self.viewport.render()

    def set_up_axis(self, axis: str | None) -> None:
        """Override which axis is up for the open file (None: its format's default), remembered."""
        if self.scene is None or self.scene.source is None:
            return
        source = self.scene.source
        chosen = axis or default_up_axis(source)
        self.state.scene = self.scene.with_up_axis(chosen)  # type: ignore[arg-type]
        self._remember(self.prefs.with_up_axis(source, axis))
        self._check_up_axis()
        if self.lighting_view is not None:
            self._apply_lighting(self.lighting_view.lighting)
        self.reset_view()
        self.statusBar().showMessage(f"{source.name}: {chosen} is up", 5000)

    def set_lighting(self, lighting: Lighting) -> None:
        """Light the scene with another HDRI, rotation, exposure or background; remembered."""
        if self.lighting_view is None:
            return
        try:
            self._apply_lighting(lighting)
        except LightingError as exc:
            self.show_error(str(exc))
            return
        self._remember(replace(self.prefs, hdri=lighting.hdri, hdri_rotation=lighting.rotation,
                               exposure=lighting.exposure, show_background=lighting.background))
        self.display_panel.set_hdri(lighting.hdri)
        self.viewport.render()

    def _after_first_frame(self, *_: object) -> None:
        self.viewport.ren_win.RemoveObserver(self._first_frame)
        QTimer.singleShot(0, self._light_up)

    def _light_up(self) -> None:
        if self.lighting_view is None or self.lighting_view.applied:
            return
        try:
            self._apply_lighting(self.lighting_view.lighting)
        except LightingError as exc:  # the user's HDRI moved away: the bundled one lights
            log.warning("%s", exc)
            self._apply_lighting(Lighting())
        self.viewport.render()

    def _apply_lighting(self, lighting: Lighting) -> None:
        if self.lighting_view is None:
            return
        if self.scene is None:
            self.lighting_view.apply(lighting)
        else:
            self.lighting_view.apply(lighting, self.scene.up_vector, self.scene.front_vector)

    def set_tiling(self, u: float, v: float) -> None:
        """Repeat every material's maps u x v times across its UVs (a preview: files keep theirs)."""
        self._tiling = (u, v)
        for key, part in self.parts.items():
            base = self._base_uvs.get(key)
            coords = part.polydata.GetPointData().GetTCoords()
            if base is None or coords is None:
                continue
            # In place: the actor draws this polydata (a displaced copy is rebuilt from it below).
            vtk_to_numpy(coords)[:] = base * np.array([u, v], np.float32)
            coords.Modified()
        if self._displacement:
            self.set_displacement(self._displacement)
        self.viewport.render()

    def set_displacement(self, strength: float) -> None:
        """Show materials with a height map as a displaced, subdivided copy (0: the mesh as is).

        `strength` is a fraction of the scene's size; the copies are made on the thread pool.
        """
        self._displacement = strength
        token = self._next("displacement")
        if self.scene is None:
            return
        size = float(np.linalg.norm(np.subtract(*self.scene.bounds[::-1])))
        for key, part in self.parts.items():
            view = self.scene_view.views.get(key)
            textures = self.materials.get(key)
            if view is None:
                continue
            if not strength or textures is None or MapKind.HEIGHT not in textures:
                if view.actor is not None and view.actor.GetMapper().GetInput() is not \
                        part.polydata:
                    view.set_mesh(part.polydata)
                continue
            height = textures.get(MapKind.HEIGHT)
            self._runner.submit(
                lambda p=part.polydata, h=height: displaced_copy(
                    p, h.pixels if h.pixels is not None else h.load().pixels, strength * size),
                lambda mesh, v=view: self._displaced(token, v, mesh),
                lambda exc: self._job_failed(exc, "Could not displace the mesh"),
            )
        self.viewport.render()

    def _displaced(self, token: int, view: MaterialView, mesh: object) -> None:
        if token == self._generation["displacement"] and view in self.scene_view.views.values():
            view.set_mesh(mesh)
            self.viewport.render()
        self._maybe_idle()

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
        return self._runner.busy or bool(self._deferred)

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
    def _load_scene_job(path: Path, up_axis: str | None) -> tuple[
            Scene, list[ScenePart], dict[MaterialKey, tuple[TextureSet, PreparedTextures]]]:
        scene = load_scene(path, up_axis=up_axis)  # type: ignore[arg-type]
        parts = scene_parts(scene)
        scene = scene.with_notices(*uv_bake_notices(parts))
        cull = scene.format in ("glTF", "GLB")  # OBJ/PLY/STL windings are too often careless
        looks = {}
        for part in parts:
            material = DEFAULT_MATERIAL if part.material is None \
                else scene.materials[part.material]
            look = MaterialLook.of(material, cull=cull)
            textures = embedded_textures(material, part)
            looks[part.material] = (look, MainWindow._load_textures_job(
                textures, False, None, look))
        return scene, parts, looks

    @staticmethod
    def _load_textures_job(
        textures: TextureSet, derive_missing: bool, settings: PBRSettings | None = None,
        look: MaterialLook | None = None,
    ) -> tuple[TextureSet, PreparedTextures]:
        loaded = textures.loaded()
        if derive_missing:
            loaded = loaded.with_derived_maps(settings)
        opaque = look is None or look.alpha_mode == "OPAQUE"
        cutoff = look.alpha_cutoff if look is not None and look.alpha_mode == "MASK" else None
        prepared = prepare_textures(loaded, opaque=opaque, alpha_cutoff=cutoff)
        # VTK holds its own (flipped) copy now: keep thumbnails, re-read files when needed.
        released = loaded.released()
        del loaded
        return_freed_memory()
        return released, prepared

    def _next(self, kind: str) -> int:
        self._generation[kind] += 1
        return self._generation[kind]

    @property
    def _mesh_in_flight(self) -> bool:
        return self._shown_mesh < self._generation["mesh"]

    def _targets(self) -> list[MaterialKey]:
        """The materials new maps go onto: the selected one, or all sharing its UV layout."""
        key = self.selected_material
        if not self.share_uv_set or key not in self.parts:
            return [key]
        chosen = self.parts[key]
        return [k for k, part in self.parts.items() if k == key or part.shares_uvs_with(chosen)]

    def _scene_loaded(self, token: int, path: Path, scene: Scene, parts: list[ScenePart],
                      looks: dict) -> None:
        if token != self._generation["mesh"]:
            self._maybe_idle()
            return
        self._shown_mesh = token
        self.parts = {part.material: part for part in parts}
        # A new scene shows its own materials: nothing of the previous scene's maps carries over.
        self._looks, self._material_tokens = {}, {}
        self.state.open(scene, {key: textures for key, (_, (textures, _)) in looks.items()})
        self.scene_view.set_parts(parts)
        for key, (look, (textures, prepared)) in looks.items():
            self._looks[key] = look
            self.scene_view.set_material(key, prepared, look.over(textures))
        self.selected_material = parts[0].material if parts else None
        self._base_uvs = {
            part.material: vtk_to_numpy(part.polydata.GetPointData().GetTCoords()).copy()
            for part in parts if part.polydata.GetPointData().GetTCoords() is not None}
        self._tiling, self._displacement = (1.0, 1.0), 0.0  # a new file shows as it is
        self.display_panel.reset_surface()
        if self.lighting_view is not None:  # the environment's up follows the file's up axis
            self._apply_lighting(self.lighting_view.lighting)
        self._fill_materials_list()
        self._remember(self.prefs.with_recent(path))
        self._check_up_axis()
        self.reset_view()
        notes = " ".join(scene.notices)
        self.statusBar().showMessage(
            f"{scene.name}: {scene.triangle_count:,} triangles, {len(parts)} "
            f"material{'s' if len(parts) != 1 else ''}" + (f". {notes}" if notes else ""))
        self.mesh_shown.emit(scene)
        self.materials_changed.emit(self.material_names())
        self.material_selected.emit(self.selected_material)
        deferred, self._deferred = self._deferred, []
        if not deferred:  # the panel shows this file's maps, even none, never the last file's
            shown = self.materials.get(self.selected_material, TextureSet())
            self._list_maps(shown)
            self.textures_shown.emit(shown)
        for request in deferred:
            request()
        self._maybe_idle()

    def _mesh_failed(self, token: int, exc: BaseException, context: str) -> None:
        if token == self._generation["mesh"]:
            self._shown_mesh = token  # the old scene stays; maps asked for meanwhile go onto it
            deferred, self._deferred = self._deferred, []
            for request in deferred:
                request()
        self._job_failed(exc, context)

    def _textures_loaded(self, token: int, key: MaterialKey, textures: TextureSet,
                         prepared: PreparedTextures) -> None:
        if token == self._material_tokens.get(key):
            self.state.show(key, textures)
            look = self._looks.get(key, MaterialLook())
            self.scene_view.set_material(key, prepared, look.over(textures))
            if key not in self.scene_view.views:
                self._no_view.set_textures(prepared)
            if key == self.selected_material:
                self._list_maps(textures)
                kinds = ", ".join(k.value for k in textures.kinds) or "no maps"
                self.statusBar().showMessage(f"Material: {kinds}", 5000)
            self.viewport.render()
            if key == self.selected_material:
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
        if not self.busy:
            self._progress_timer.stop()
            self.load_progress.hide()
            self.idle.emit()

    def _show_progress(self) -> None:
        if self.busy:
            self.load_progress.setToolTip(self.statusBar().currentMessage() or "Loading…")
            self.load_progress.show()

    def _remember(self, prefs: ViewPrefs) -> None:
        self.prefs = prefs
        try:
            save_view_prefs(prefs, self._prefs_path)
        except ConfigError as exc:  # a read-only config dir: remembered for this run only
            log.warning("%s", exc)
        self._fill_recent_menu()

    # ------------------------------------------------------------------ picking

    def _on_press(self, interactor, _event) -> None:
        self._press = interactor.GetEventPosition()

    def _on_release(self, interactor, _event) -> None:
        if self._press is None:
            return
        x, y = interactor.GetEventPosition()
        px, py = self._press
        self._press = None
        if abs(x - px) <= PICK_SLOP_PX and abs(y - py) <= PICK_SLOP_PX:
            self.pick_material(x, y)

    # ------------------------------------------------------------------ widgets

    def _fill_materials_list(self) -> None:
        self.materials_list.blockSignals(True)
        self.materials_list.clear()
        for key, part in self.parts.items():
            item = QListWidgetItem(part.name)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setToolTip(f"{part.triangles:,} triangles, UV set {part.uv_set}")
            self.materials_list.addItem(item)
        if self.parts:
            self.materials_list.setCurrentRow(0)
        self.materials_list.blockSignals(False)

    def _material_row_chosen(self, item: QListWidgetItem | None, _previous: object) -> None:
        if item is not None:
            self.select_material(item.data(Qt.ItemDataRole.UserRole))

    def _list_maps(self, textures: TextureSet) -> None:
        self.maps_list.clear()
        for kind in textures.kinds:
            texture = textures.maps[kind]
            size = f"{texture.size[0]}×{texture.size[1]}" if texture.size else ""
            item = QTreeWidgetItem([kind.value.replace("_", " "), size, texture.source.value])
            item.setToolTip(0, str(texture.path) if texture.path else "in the mesh file"
                            if texture.source is MapSource.EMBEDDED else "in memory")
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
        self._recent_menu = file_menu.addMenu("Open &recent")
        self._fill_recent_menu()
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
        # Blender's numpad views; the plain digits stay the view modes above (Qt tries a keypad
        # shortcut before the same key without the keypad modifier).
        self._view_actions: dict[NamedView, QAction] = {}
        for view, key in NAMED_VIEW_KEYS.items():
            self._view_actions[view] = self._action(
                view_menu, view.label, key.replace(key[-1], f"Num+{key[-1]}"),
                lambda _=False, v=view: self.set_view(v))
        self._action(view_menu, "&Reset view", "Home", self.reset_view)
        up_menu = view_menu.addMenu("&Up axis")
        up_group = QActionGroup(self)
        self._up_actions: dict[str, QAction] = {}
        for axis in UP_AXES:
            action = QAction(f"{axis} is up", self)
            action.setCheckable(True)
            action.triggered.connect(lambda _=False, a=axis: self.set_up_axis(a))
            up_group.addAction(action)
            up_menu.addAction(action)
            self._up_actions[axis] = action
        up_menu.addSeparator()
        up_menu.addAction("As the file format says", lambda: self.set_up_axis(None))
        view_menu.addSeparator()
        view_menu.addAction(self.left_dock.toggleViewAction())
        view_menu.addAction(self.right_dock.toggleViewAction())

        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&About AUTOMATA Desktop", None, self.show_about)

    def _fill_recent_menu(self) -> None:
        menu = getattr(self, "_recent_menu", None)
        if menu is None:
            return
        menu.clear()
        for path in self.prefs.recent_files:
            menu.addAction(Path(path).name, lambda p=path: self.open_mesh(p)).setToolTip(path)
        menu.setEnabled(bool(self.prefs.recent_files))

    def _check_up_axis(self) -> None:
        if self.scene is not None and self.scene.up_axis in self._up_actions:
            self._up_actions[self.scene.up_axis].setChecked(True)

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
        path = file_dialogs.open_file(self, "mesh", "Open mesh", f"Meshes ({patterns})")
        if path:
            self.open_mesh(path)

    def _ask_maps(self) -> None:
        folder = file_dialogs.open_folder(self, "maps", "Open maps folder")
        if folder:
            self.open_maps_folder(folder)

    def _ask_screenshot(self) -> None:
        path = file_dialogs.save_file(self, "screenshot", "Save screenshot", "automata.png",
                                      "PNG image (*.png)")
        if path:
            try:
                self.save_screenshot(path)
            except AutomataError as exc:
                self.show_error(str(exc))
            else:
                self.statusBar().showMessage(f"Saved {path}", 5000)

    def export_scene_glb(self, path: str | Path) -> None:
        """Write the open scene as a GLB, each material with the maps it shows (off the Qt thread).

        A material still showing only the file's own maps is written as the file had it. The
        viewport shows normal maps as OpenGL (+Y), so that is what the shown maps are taken to be.
        """
        scene = self.scene
        if scene is None:
            self.show_error("There is no scene to export: open a mesh first (File → Open mesh…)")
            return
        target = Path(path)
        if target.suffix.lower() != ".glb":
            target = target.with_name(target.name + ".glb")
        changed = self.state.changed()

        def job() -> GlbExport:
            materials = {key: textures.loaded() for key, textures in changed.items()}
            return write_scene_glb(scene, target, materials)

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
        if self.scene is None:
            self.show_error("There is no scene to export: open a mesh first (File → Open mesh…)")
            return
        stem = self.scene.source.stem if self.scene.source else "scene"
        path = file_dialogs.save_file(self, "export", "Export scene as GLB", f"{stem}.glb",
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
        ComfyUI saved, a plain image that becomes a map) goes to whoever listens to
        `files_dropped`: the owner decides (the workbench makes images named as maps maps, via
        `open_map_files`, and imports the rest as workflows)."""
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        # The mesh first, whatever the order of the drop: maps dropped with it belong to it.
        paths.sort(key=lambda p: not (p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES))
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
