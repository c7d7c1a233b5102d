"""The Library dock: every generation, searchable; open, re-run, export or delete one.

Every query and action is an intent of the controller (run off the Qt thread); the list never
blocks drawing and the widget never holds the library.

Rows are named as the queue names them, by the workflow's title ("PBR set from an image", not
"pbr_from_image"), and the search finds what is shown: the title and the reference image's file
name besides the prompt, workflow, server and id. The library's own search knows neither (titles
live in the workflow templates, the image in the parameters), so a search reads the newest
SEARCH_SCAN rows (off the Qt thread) and matches them here.

Keys: Ctrl+F (from anywhere in the window: `focus_search`) goes to the search box, Escape there
clears it, ↓ or Tab goes on to the list; in the list Enter opens the row on the mesh and Delete
asks to delete it, as the buttons do.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from automata_desktop.core.generation import Generation, GenerationStatus
from automata_desktop.core.maps import MapKind
from automata_desktop.library.export import PRESETS
from automata_desktop.ui.images import DECODE_SCALE, thumbnail_of_file, thumbnail_pixmap
from automata_desktop.ui.workers import BackgroundRunner

if TYPE_CHECKING:
    from automata_desktop.controller.app_controller import AppController, LibraryPage
    from automata_desktop.library.glb_export import GlbExport

ROW_THUMB = 32
LIST_LIMIT = 500
SEARCH_SCAN = 5000
COLUMNS = ("Prompt / workflow", "Status", "Server", "Date", "Duration", "Copy")
COPY_COLUMN = 5
#: Which copy a row's maps come from. The local files are always what opens; the marker says
#: whether the cloud has them too (or why not yet).
DELIVERY_MARKS = {
    "local only": ("● local only", "#8a8f9c", "Only on this computer"),
    "upload pending": ("↑ pending", "#90caf9", "Local files; the upload is queued"),
    "upload failed": ("⚠ upload failed", "#ffb74d",
                      "The upload failed and is retried; the local files are used meanwhile"),
    "synced": ("☁ synced", "#81c784", "On this computer and in the cloud"),
    "partly synced": ("◐ partly synced", "#aed581",
                      "In the cloud except files larger than your Supabase project's upload "
                      "limit; those stay on this computer"),
}

def image_name(gen: Generation) -> str:
    """The reference image's file name (a local path, or the name uploaded to ComfyUI)."""
    stored = gen.parameters.get("image")
    return Path(stored).name if isinstance(stored, str) and stored else ""


def summary(gen: Generation, title: str = "") -> str:
    """The prompt's first line; without a prompt, the workflow's title and the image it read."""
    if gen.prompt.strip():
        return gen.prompt.strip().splitlines()[0][:80]
    image = image_name(gen)
    return f"{title or gen.workflow} · {image}" if image else (title or gen.workflow)


def matches(gen: Generation, words: list[str], title: str = "") -> bool:
    """Every word somewhere in what the row shows or says: "marble pbr" finds a PBR set made
    from marble_01.png (as the library's search: any order, parts of words, any case)."""
    haystack = " ".join((gen.prompt, gen.workflow, title, gen.server, gen.id,
                         image_name(gen))).lower()
    return all(word.lower() in haystack for word in words)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {int(seconds % 60)} s"


def thumbnail_source(gen: Generation) -> Path | None:
    by_kind = {f.kind: f.path for f in gen.files}
    for kind in (MapKind.PREVIEW, MapKind.BASE_COLOR):
        if kind in by_kind:
            return by_kind[kind]
    return None


class LibraryBrowser(QWidget):
    open_requested = Signal(object)  # Generation
    rerun_requested = Signal(object)  # Generation
    message = Signal(str)  # for the status bar
    refreshed = Signal()
    exported = Signal(object)  # GlbExport, once a textured model is written

    def __init__(self, controller: AppController) -> None:
        super().__init__()
        self.controller = controller
        self.deliveries: dict[str, str] = {}
        self._runner = BackgroundRunner(self)
        self._token = 0
        self._thumbs: dict[Path, QIcon] = {}
        self.generations: list[Generation] = []
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search prompt, workflow, image, server…")
        self.search.setToolTip("Ctrl+F from anywhere; Escape clears it, ↓ goes to the list")
        self.search.setClearButtonEnabled(True)
        self.status = QComboBox()
        self.status.addItem("All states", None)
        for status in GenerationStatus:
            self.status.addItem(status.value.replace("_", " ").capitalize(), status)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setIconSize(QSize(ROW_THUMB, ROW_THUMB))
        self.tree.setAlternatingRowColors(True)
        self.tree.setSortingEnabled(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            self.tree.header().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemDoubleClicked.connect(lambda *_: self.open_selected())
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.count = QLabel()
        self.count.setStyleSheet("color: #8a8f9c;")
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Show this generation's maps on the mesh (Enter)")
        self.rerun_button = QPushButton("Re-run")
        self.rerun_button.setToolTip("Generate again with the same workflow, server and parameters")
        self.preset = QComboBox()
        for key, preset in PRESETS.items():
            self.preset.addItem(preset.label, key)
        # Export ▸ Maps (named and converted for the preset's tool) | Textured model (GLB).
        self.export_button = QPushButton("Export")
        export_menu = QMenu(self.export_button)
        self.export_maps_action = export_menu.addAction("Maps…")
        self.export_maps_action.setToolTip("The maps, named and converted as the chosen tool wants")
        self.export_glb_action = export_menu.addAction("Textured model (GLB)…")
        self.export_glb_action.setToolTip(
            "The generation's mesh (or the sample cube) with its material, as one glTF 2.0 file")
        self.export_button.setMenu(export_menu)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("Delete this generation and its files (Delete)")
        self.open_button.clicked.connect(self.open_selected)
        self.rerun_button.clicked.connect(self._rerun)
        self.export_maps_action.triggered.connect(self._ask_export)
        self.export_glb_action.triggered.connect(self._ask_export_glb)
        self.delete_button.clicked.connect(self._ask_delete)

        # One bar above the list: a short dock keeps its height for rows.
        self.search.setMinimumWidth(160)
        bar = QHBoxLayout()
        bar.addWidget(self.search, 2)
        bar.addWidget(self.status)
        for widget in (self.open_button, self.rerun_button, self.preset, self.export_button,
                       self.delete_button):
            bar.addWidget(widget)
        bar.addWidget(self.count, 1, Qt.AlignmentFlag.AlignRight)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        layout.addLayout(bar)
        layout.addWidget(self.tree, 1)
        # Type, then on to the rows; the filter and the actions after them.
        chain = (self.search, self.tree, self.status, self.open_button, self.rerun_button,
                 self.preset, self.export_button, self.delete_button)
        for first, second in pairwise(chain):
            QWidget.setTabOrder(first, second)
        self.search.installEventFilter(self)
        self.tree.installEventFilter(self)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.refresh)
        self.search.textChanged.connect(lambda _: self._debounce.start())
        self.status.currentIndexChanged.connect(lambda _: self.refresh())
        self._selection_changed()
        controller.generation_deleted.connect(self._deleted)

    # ------------------------------------------------------------------ keys

    def focus_search(self) -> None:
        """Ctrl+F: the library comes forward (it may be tabbed behind the map view or closed)
        and its search box takes the keys, its text selected to be typed over."""
        dock = self.parentWidget()
        while dock is not None and not isinstance(dock, QDockWidget):
            dock = dock.parentWidget()
        if dock is not None:
            dock.show()
            dock.raise_()
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if isinstance(event, QKeyEvent) and event.type() is QEvent.Type.KeyPress \
                and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            if watched is self.search and self._search_key(event.key()):
                return True
            if watched is self.tree and self._tree_key(event.key()):
                return True
        return super().eventFilter(watched, event)

    def _search_key(self, key: int) -> bool:
        if key == Qt.Key.Key_Escape and self.search.text():
            self.search.clear()
            return True
        if key == Qt.Key.Key_Down and self.tree.topLevelItemCount():
            self.tree.setFocus(Qt.FocusReason.OtherFocusReason)
            if self.selected() is None:
                self.tree.setCurrentItem(self.tree.topLevelItem(0))
            return True
        return False

    def _tree_key(self, key: int) -> bool:
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.open_selected()
            return True
        if key == Qt.Key.Key_Delete:
            self._ask_delete()
            return True
        return False

    # ------------------------------------------------------------------ listing

    def refresh(self) -> None:
        self._token += 1
        token = self._token

        words = self.search.text().split()

        def arrived(page: LibraryPage) -> None:
            if token != self._token:  # answers can overtake each other: only the newest counts
                return
            if not words:
                self._show(page.generations, page.total, page.deliveries)
                return
            found = [g for g in page.generations if matches(g, words, self.title_of(g))]
            scanned = f" in the newest {SEARCH_SCAN}" if page.total > SEARCH_SCAN else ""
            self._show(found[:LIST_LIMIT], len(found), page.deliveries, scanned)

        self.controller.list_generations(
            status=self.status.currentData(), search=None,
            limit=SEARCH_SCAN if words else LIST_LIMIT, on_done=arrived,
            on_error=lambda text: self.message.emit(f"Could not read the library: {text}"))

    def title_of(self, gen: Generation) -> str:
        """The workflow's title as the queue shows it; its name when it is not installed."""
        template = self.controller.workflows.get(gen.workflow)
        return (template.title or template.name) if template is not None else gen.workflow

    def _show(self, generations: list[Generation], total: int,
              deliveries: dict[str, str] | None = None, scanned: str = "") -> None:
        selected = self.selected()
        self.generations = generations
        self.deliveries = deliveries or {}
        self.tree.clear()
        for gen in generations:
            title = self.title_of(gen)
            item = QTreeWidgetItem([
                summary(gen, title), gen.status.value.replace("_", " "), gen.server,
                gen.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
                format_duration(gen.duration_s), "",
            ])
            mark = DELIVERY_MARKS.get(self.deliveries.get(gen.id, ""))
            if mark is not None:
                item.setText(COPY_COLUMN, mark[0])
                item.setForeground(COPY_COLUMN, QColor(mark[1]))
                item.setToolTip(COPY_COLUMN, mark[2])
            item.setData(0, Qt.ItemDataRole.UserRole, gen.id)
            item.setSizeHint(0, QSize(0, ROW_THUMB + 2))  # rows without a thumbnail as tall
            image = image_name(gen)
            item.setToolTip(0, "\n".join(line for line in (
                f"{title} ({gen.workflow})", gen.prompt, image and f"image: {image}",
                gen.error or "") if line))
            if gen.error:
                item.setToolTip(1, gen.error)
            self.tree.addTopLevelItem(item)
            self._thumbnail(item, gen)
            if selected is not None and gen.id == selected.id:
                item.setSelected(True)
        self.tree.setColumnHidden(COPY_COLUMN, not self.deliveries)  # sync off: no marker
        shown = len(generations)
        self.count.setText(f"{total} generation{'s' if total != 1 else ''}{scanned}"
                           + (f" (showing {shown})" if shown < total else ""))
        self._selection_changed()
        self.refreshed.emit()

    def _thumbnail(self, item: QTreeWidgetItem, gen: Generation) -> None:
        path = thumbnail_source(gen)
        if path is None:
            return
        if path in self._thumbs:
            item.setIcon(0, self._thumbs[path])
            return
        gen_id = gen.id

        def arrived(image: QImage | None) -> None:
            if image is None:
                return
            icon = QIcon(thumbnail_pixmap(image, ROW_THUMB, self.tree.devicePixelRatioF()))
            self._thumbs[path] = icon
            current = self._item(gen_id)
            if current is not None:
                current.setIcon(0, icon)

        self._runner.submit(lambda: thumbnail_of_file(path, ROW_THUMB * DECODE_SCALE), arrived,
                            lambda e: None)

    def _item(self, gen_id: str) -> QTreeWidgetItem | None:
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            if item.data(0, Qt.ItemDataRole.UserRole) == gen_id:
                return item
        return None

    # ------------------------------------------------------------------ selection and actions

    def selected(self) -> Generation | None:
        items = self.tree.selectedItems()
        if not items:
            return None
        gen_id = items[0].data(0, Qt.ItemDataRole.UserRole)
        return next((g for g in self.generations if g.id == gen_id), None)

    def select(self, gen_id: str) -> None:
        item = self._item(gen_id)
        if item is not None:
            self.tree.setCurrentItem(item)

    def _selection_changed(self) -> None:
        gen = self.selected()
        has_files = gen is not None and bool(gen.files)
        self.open_button.setEnabled(has_files)
        self.export_button.setEnabled(has_files)
        self.rerun_button.setEnabled(gen is not None)
        self.delete_button.setEnabled(gen is not None)

    def open_selected(self) -> None:
        gen = self.selected()
        if gen is not None and gen.files:
            self.open_requested.emit(gen)

    def _rerun(self) -> None:
        gen = self.selected()
        if gen is not None:
            self.rerun_requested.emit(gen)

    def _ask_delete(self) -> None:
        gen = self.selected()
        if gen is None:
            return
        files = len(gen.files)
        answer = QMessageBox.question(
            self, "Delete generation",
            f"Delete “{summary(gen, self.title_of(gen))}” from the library?\n\n"
            f"Its {files} file{'s' if files != 1 else ''} will be deleted from disk too.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Yes:
            self.delete(gen.id)

    def delete(self, gen_id: str) -> None:
        self.controller.delete_generation(
            gen_id, lambda _: self.message.emit("Deleted the generation and its files"),
            self.message.emit)

    def _deleted(self, gen_id: str, _paths: object) -> None:
        self.generations = [g for g in self.generations if g.id != gen_id]
        item = self._item(gen_id)
        if item is not None:
            self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(item))
        self._selection_changed()

    def _ask_export(self) -> None:
        gen = self.selected()
        if gen is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Export maps to")
        if folder:
            self.export(gen.id, Path(folder), self.preset.currentData())

    def export(self, gen_id: str, dest: Path, preset: str) -> None:
        self.controller.export_maps(
            gen_id, dest, preset,
            lambda paths: self.message.emit(f"Exported {len(paths)} files to {dest}"),
            self.message.emit)

    def _ask_export_glb(self) -> None:
        gen = self.selected()
        if gen is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Export the textured model to")
        if folder:
            self.export_glb(gen.id, Path(folder), self.preset.currentData())

    def export_glb(self, gen_id: str, dest: Path, preset: str) -> None:
        """The generation as a GLB in `dest` (see library.glb_export), off the Qt thread."""

        def done(result: GlbExport) -> None:
            notes = " ".join(result.notices)
            self.message.emit(f"Exported {result.paths[0].name} to {dest}"
                              + (f". {notes}" if notes else ""))
            self.exported.emit(result)

        self.controller.export_glb(gen_id, dest, preset, done, self.message.emit)
