"""The Generate dock: pick a server and a workflow, fill its inputs, generate, and follow the queue.

The panel only builds GenerationRequests and shows what the controller reports; every server
question (status dot, missing nodes, submit) is an intent of the controller it is handed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from automata_desktop.config import LOCAL_SERVER, Settings
from automata_desktop.core.generation import Generation
from automata_desktop.core.maps import MapKind
from automata_desktop.core.mesh import SUPPORTED_SUFFIXES
from automata_desktop.core.texture_set import IMAGE_SUFFIXES
from automata_desktop.core.workflow import WorkflowTemplate
from automata_desktop.errors import AutomataError
from automata_desktop.jobs.models import GenerationRequest, JobUpdate
from automata_desktop.ui import file_dialogs
from automata_desktop.ui.images import DECODE_SCALE, thumbnail_of_file, thumbnail_pixmap
from automata_desktop.ui.pool_view import PoolView
from automata_desktop.ui.queue_view import PREVIEW_PX, QueueList
from automata_desktop.ui.workers import BackgroundRunner

if TYPE_CHECKING:
    from automata_desktop.controller.app_controller import AppController, Submitted
    from automata_desktop.services import Readiness, ServerStatus

log = logging.getLogger(__name__)

STATUS_REFRESH_MS = 15_000
POOL_REFRESH_MS = 2000
ALL_SERVERS = "all"  # the picker's pool entry, as `automata generate --server all` names it
REFERENCE_THUMB_PX = 28
DOT = "●"
SEED_MAX = 2**31 - 1


def workflow_needs(template: WorkflowTemplate) -> str:
    lines = []
    if template.local:
        lines.append("Runs in-process (server “local”) or on any ComfyUI with the AUTOMATA nodes.")
    if template.node_packs:
        lines.append("Node packs: " + ", ".join(p.name for p in template.node_packs))
    if template.models:
        lines.append("Models: " + ", ".join(m.filename for m in template.models))
    inputs = [p.label or p.name for p in template.parameters.values()
              if p.type in ("image", "mesh") and p.required]
    if inputs:
        lines.append("Needs: " + ", ".join(inputs))
    return "\n".join(lines)


def compact_combo() -> QComboBox:
    """A combo that shrinks and elides: long server URLs and workflow titles must not widen the
    dock. Set before any item goes in: Qt caches the minimum size hint of the first items."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(10)
    return combo


class GenerationPanel(QWidget):
    message_shown = Signal(str, str)  # level (error | info), text

    def __init__(self, controller: AppController) -> None:
        super().__init__()
        self.controller = controller
        self.workflows = controller.workflows
        self.statuses = controller.server_statuses  # owned by the controller, read here
        self._shown_status: dict[str, ServerStatus] = {}  # what the dot showed, to see changes
        self._readiness_token = 0
        self._runner = BackgroundRunner(self)

        self.server = compact_combo()
        self.server_dot = QLabel(DOT)
        self.server_info = QLabel()
        self.server_info.setStyleSheet("color: #a9aebb;")
        self.server_info.setWordWrap(True)
        self.pool_view = PoolView()
        self.pool_view.pause_toggled.connect(self.controller.pause_server)
        self._pool_timer = QTimer(self)  # the pool's load while "All servers" is shown
        self._pool_timer.setInterval(POOL_REFRESH_MS)
        self._pool_timer.timeout.connect(
            lambda: self.controller.pool_status(self.pool_view.show_load))
        # Under "All servers": the server the chosen workflow is pinned to, if any.
        self.pin = compact_combo()
        self.pin.setToolTip("Pinned: this workflow's generations wait for that server and never "
                            "move to another (kept in the settings)")
        self.pin.currentIndexChanged.connect(self._pin_changed)
        self.workflow = compact_combo()
        for name, template in sorted(self.workflows.items(), key=lambda kv: (not kv[1].local, kv[0])):
            self.workflow.addItem(template.title or name, name)
        self.workflow_info = QLabel()
        self.workflow_info.setWordWrap(True)
        self.workflow_info.setStyleSheet("color: #a9aebb; font-size: 11px;")
        self.readiness = QLabel()
        self.readiness.setWordWrap(True)
        self.readiness.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.mesh_path = QLineEdit()
        self.mesh_path.setPlaceholderText("the mesh in the viewport")
        self.image_path = QLineEdit()
        self.image_path.setPlaceholderText("reference image (png, jpg)")
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Describe the texture")
        self._prompt_default = ""  # the workflow's example prompt, while the field still holds it
        self.prompt.setFixedHeight(56)
        self.negative = QPlainTextEdit()
        self.negative.setPlaceholderText("What to avoid")
        self.negative.setFixedHeight(40)
        for box in (self.prompt, self.negative):  # Tab goes on to the next field, as in a form
            box.setTabChangesFocus(True)
        self.random_seed = QCheckBox("Random")
        self.random_seed.setChecked(True)
        self.seed = QSpinBox()
        self.seed.setRange(0, SEED_MAX)
        self.seed.setEnabled(False)
        self.random_seed.toggled.connect(lambda on: self.seed.setEnabled(not on))
        self.texture_size = compact_combo()
        self.batch = QSpinBox()
        self.batch.setRange(1, 16)
        self.generate = QPushButton("Generate")
        self.generate.setDefault(True)
        self.generate.setMinimumHeight(32)
        self.generate.setStyleSheet("QPushButton { font-weight: 600; }")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        self._message_level = ""
        self._split_by_user = False
        self.queue = QueueList()

        self._build_layout()
        self.set_servers(controller.settings)
        # Until the user picks a server, a default ComfyUI that turns out unreachable gives way to
        # the in-process backend, so Generate works on a fresh machine as the CLI does.
        self._may_fall_back = self.server_url != LOCAL_SERVER
        self.server.currentIndexChanged.connect(self._server_changed)
        self.workflow.currentIndexChanged.connect(self._workflow_changed)
        # An error is about the form as it was: changing what it was about clears it.
        for changed in (self.server.currentIndexChanged, self.workflow.currentIndexChanged,
                        self.image_path.textChanged, self.mesh_path.textChanged,
                        self.prompt.textChanged):
            changed.connect(self._clear_error)
        self.generate.clicked.connect(self.submit)
        self.queue.cancel_clicked.connect(self.cancel)
        self.queue.retry_clicked.connect(self.retry)
        self.queue.check_clicked.connect(self.check_now)
        controller.job_updated.connect(self._on_update)
        controller.generation_finished.connect(self._thumbnail_from_files)
        controller.server_status_changed.connect(self._status_arrived)
        controller.started.connect(self._runtime_started)
        controller.start_failed.connect(lambda text: self.show_message(text, "error"))
        controller.settings_changed.connect(self._settings_changed)
        self._refresh = QTimer(self)
        self._refresh.setInterval(STATUS_REFRESH_MS)
        self._refresh.timeout.connect(self.refresh_status)
        self._workflow_changed()

    # ------------------------------------------------------------------ layout

    def _build_layout(self) -> None:
        server_row = QHBoxLayout()
        server_row.addWidget(self.server, 1)
        server_row.addWidget(self.server_dot)
        refresh = QPushButton("↻")
        refresh.setFixedWidth(28)
        refresh.setToolTip("Check the server now")
        refresh.clicked.connect(self.refresh_status)
        server_row.addWidget(refresh)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Server", server_row)
        form.addRow("", self.server_info)
        form.addRow(self.pool_view)
        form.addRow("Pin to", self.pin)
        form.addRow("Workflow", self.workflow)
        form.addRow("", self.workflow_info)
        form.addRow("", self.readiness)
        self._mesh_row = self._picker(self.mesh_path, self._ask_mesh)
        self._image_row = self._picker(self.image_path, self._ask_image)
        self.image_thumb = QLabel()  # the reference the user picked, at a glance
        self.image_thumb.setFixedSize(REFERENCE_THUMB_PX, REFERENCE_THUMB_PX)
        self.image_thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_thumb.setStyleSheet("background: #15171c; border-radius: 3px;")
        self.image_thumb.hide()
        self._image_row.layout().insertWidget(0, self.image_thumb)
        self._thumb_token = 0
        self.image_path.textChanged.connect(self._show_reference)
        form.addRow("Mesh", self._mesh_row)
        form.addRow("Image", self._image_row)
        form.addRow("Prompt", self.prompt)
        form.addRow("Negative", self.negative)
        self._seed_row = QWidget()
        seed_row = QHBoxLayout(self._seed_row)
        seed_row.setContentsMargins(0, 0, 0, 0)
        seed_row.addWidget(self.random_seed)
        seed_row.addWidget(self.seed, 1)
        form.addRow("Seed", self._seed_row)
        self._form = form
        sizes = QHBoxLayout()
        sizes.addWidget(self.texture_size, 1)
        sizes.addWidget(QLabel("Batch"))
        sizes.addWidget(self.batch)
        form.addRow("Texture", sizes)

        form_widget = self._form_widget = QWidget()
        top_layout = QVBoxLayout(form_widget)
        top_layout.setContentsMargins(6, 6, 6, 6)
        top_layout.addLayout(form)
        top_layout.addWidget(self.generate)
        top_layout.addWidget(self.message)
        top_layout.addStretch(1)
        # Scrolled, never squeezed: a long description or error must not make lines overlap.
        top = QScrollArea()
        top.setWidget(form_widget)
        top.setWidgetResizable(True)
        top.setFrameShape(QFrame.Shape.NoFrame)
        top.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        queue_box = QGroupBox("Queue")
        queue_layout = QVBoxLayout(queue_box)
        queue_layout.setContentsMargins(2, 6, 2, 2)
        queue_layout.addWidget(self.queue)

        splitter = self._splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(queue_box)
        queue_box.setMinimumHeight(70)
        splitter.setChildrenCollapsible(False)
        splitter.splitterMoved.connect(lambda *_: setattr(self, "_split_by_user", True))
        splitter.installEventFilter(self)
        form_widget.installEventFilter(self)
        splitter.setStretchFactor(0, 0)  # the form keeps its height; the queue takes the rest
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Until the user drags the handle, the rule of `_size_split` holds at every size.
        # The form's content changing (a wrapped message, rows shown or hidden) counts too.
        resized = watched is self._splitter and event.type() is QEvent.Type.Resize
        relaid = watched is self._form_widget and event.type() is QEvent.Type.LayoutRequest
        if (resized or relaid) and not self._split_by_user:
            QTimer.singleShot(0, self, self._size_split)  # dropped if the panel is gone
        return super().eventFilter(watched, event)

    def _size_split(self) -> None:
        """The form takes what it needs up to ~60 %: the queue keeps room for a few rows (the
        form scrolls on a small screen instead of squeezing the queue to one row)."""
        total = sum(self._splitter.sizes())
        scroll = self._splitter.widget(0)
        content = scroll.widget().layout()  # type: ignore[attr-defined]
        width = scroll.viewport().width()  # type: ignore[attr-defined]
        # Wrapped labels grow with less width: ask the layout for this width's height.
        wanted = (content.totalHeightForWidth(width) if content.hasHeightForWidth()
                  else content.totalSizeHint().height()) + 4
        top = max(120, min(wanted, int(total * 0.6)))
        self._splitter.setSizes([top, max(0, total - top)])

    @staticmethod
    def _picker(edit: QLineEdit, ask: Any) -> QWidget:
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        browse = QPushButton("…")
        browse.setFixedWidth(28)
        browse.clicked.connect(ask)
        row.addWidget(browse)
        return holder

    # ------------------------------------------------------------------ servers and workflows

    def set_servers(self, settings: Settings) -> None:
        """Fill the server picker from settings; `local` (the in-process backend) is always there."""
        current = self.server_url
        self.server.blockSignals(True)
        self.server.clear()
        for server in settings.servers:
            self.server.addItem(server.label if server.label == server.url
                                else f"{server.label} — {server.url}", server.url)
        self.server.addItem("local — in-process backend", LOCAL_SERVER)
        self._pool = (*(s.url for s in settings.servers), LOCAL_SERVER)
        self.pool_view.set_servers([*((s.url, s.label) for s in settings.servers),
                                    (LOCAL_SERVER, "local (in-process)")],
                                   {s.url for s in settings.servers if s.paused})
        if settings.servers:  # each generation to a capable, least busy server (jobs/pool)
            self.server.addItem("All servers — each generation where there is room", ALL_SERVERS)
            self.server.setItemData(self.server.count() - 1, "  ".join(self._pool),
                                    Qt.ItemDataRole.ToolTipRole)
        wanted = current or settings.default_server
        index = self.server.findData(wanted)
        self.server.setCurrentIndex(index if index >= 0 else 0)
        self.server.blockSignals(False)
        self._form.setRowVisible(self.pool_view, self.server_url == ALL_SERVERS)
        self._show_pin()
        self._show_status()

    def _show_pin(self) -> None:
        """The pin choices of the pool and the chosen workflow's pin, shown under the list."""
        template, pooled = self.template, self.server_url == ALL_SERVERS
        self._form.setRowVisible(self.pin, pooled)
        if template is None:
            return
        self.pin.blockSignals(True)
        self.pin.clear()
        self.pin.addItem("any capable server", "")
        labels = dict(self.pool_view.labels())
        for url in self._pool:
            self.pin.addItem(f"{labels.get(url, url)} only", url)
        pinned = self.controller.settings.workflow_pins.get(template.name, "")
        self.pin.setCurrentIndex(max(0, self.pin.findData(pinned)))
        self.pin.blockSignals(False)

    def _pin_changed(self) -> None:
        if (template := self.template) is not None:
            self.controller.pin_workflow(template.name, self.pin.currentData() or "")

    def _settings_changed(self, settings: Settings) -> None:
        self.set_servers(settings)
        self.refresh_status()

    @property
    def server_url(self) -> str:
        return self.server.currentData() or ""

    @property
    def template(self) -> WorkflowTemplate | None:
        return self.workflows.get(self.workflow.currentData() or "")

    def add_workflow(self, template: WorkflowTemplate) -> None:
        """Put a (re-)imported workflow in the picker and select it."""
        self.workflows[template.name] = template
        index = self.workflow.findData(template.name)
        if index < 0:
            self.workflow.addItem(template.title or template.name, template.name)
            index = self.workflow.count() - 1
        if self.workflow.currentIndex() == index:
            self._workflow_changed()
        else:
            self.workflow.setCurrentIndex(index)

    def select(self, *, server: str | None = None, workflow: str | None = None) -> None:
        if server is not None:
            index = self.server.findData(server)
            if index < 0:
                raise ValueError(f"no server {server!r} in the picker")
            self.server.setCurrentIndex(index)
        if workflow is not None:
            index = self.workflow.findData(workflow)
            if index < 0:
                raise ValueError(f"no workflow {workflow!r} in the picker")
            self.workflow.setCurrentIndex(index)

    def refresh_status(self) -> None:
        """Probe every configured server in the background (the dots and versions update)."""
        self.controller.refresh_servers([self.server.itemData(i) for i in range(self.server.count())
                                         if self.server.itemData(i) != ALL_SERVERS])
        self._check_readiness()

    def _runtime_started(self, notices: list[str]) -> None:
        self.refresh_status()
        self._refresh.start()
        if notices:
            self.show_message("\n".join(notices), "info")

    def _status_arrived(self, status: ServerStatus) -> None:
        self.pool_view.show_status(status)
        changed = self._shown_status.get(status.url) != status
        self._shown_status[status.url] = status
        if self._may_fall_back and status.url == self.server_url:
            self._may_fall_back = False
            template = self.template
            if not status.reachable and template is not None and template.local:
                self.select(server=LOCAL_SERVER)
                self.show_message(f"No ComfyUI answers at {status.url}, so this runs in-process "
                                  "(model-free workflows). Pick the server again once ComfyUI runs.",
                                  "info")
                return
        self._show_status()
        if changed and status.url == self.server_url:
            self._check_readiness()

    def _show_status(self) -> None:
        status = self.statuses.get(self.server_url)
        if self.server_url == ALL_SERVERS:
            up = [u for u in self._pool if (s := self.statuses.get(u)) is not None and s.reachable]
            self.server_dot.setStyleSheet(f"color: {'#5cc98a' if up else '#ff6b6b'}; "
                                          "font-size: 16px;")
            text = f"{len(up)} of {len(self._pool)} answering: {', '.join(up) or 'none'}"
            self.server_dot.setToolTip(text)
            self.server_info.setText(f"{len(up)} of {len(self._pool)} servers answering")
            self.server_info.setToolTip(text)
            return
        for index in range(self.server.count()):
            known = self.statuses.get(self.server.itemData(index))
            if known is not None:
                self.server.setItemData(index, known.message or known.label,
                                        Qt.ItemDataRole.ToolTipRole)
        if status is None:
            color, text = "#6b707c", "checking…"
        elif status.reachable:
            color, text = "#5cc98a", status.label
        else:
            color, text = "#ff6b6b", status.message or "not reachable"
        self.server_dot.setStyleSheet(f"color: {color}; font-size: 16px;")
        self.server_dot.setToolTip(text)
        short = text if status is None or status.reachable else "not reachable (hover for why)"
        self.server_info.setText(short)
        self.server_info.setToolTip(text)

    def _server_changed(self) -> None:
        self._may_fall_back = False  # the user (or a caller) chose: respect it
        pooled = self.server_url == ALL_SERVERS
        self._form.setRowVisible(self.pool_view, pooled)
        self._show_pin()
        if pooled:
            self._pool_timer.start()
            self.controller.pool_status(self.pool_view.show_load)
        else:
            self._pool_timer.stop()
        self._show_status()
        self._check_readiness()

    def _workflow_changed(self) -> None:
        template = self.template
        if template is None:
            return
        params = template.parameters
        self.workflow_info.setText(workflow_needs(template))
        self._form.setRowVisible(self.workflow_info, bool(self.workflow_info.text()))
        self.workflow.setToolTip(template.description)
        self.workflow_info.setToolTip(template.description)
        # Inputs the workflow does not take are hidden, not just greyed out.
        for widget, wanted in ((self.prompt, "prompt" in params),
                               (self.negative, "negative_prompt" in params),
                               (self._seed_row, "seed" in params),
                               (self._mesh_row, "mesh" in params),
                               (self._image_row, "image" in params)):
            self._form.setRowVisible(widget, wanted)
        self.seed.setEnabled("seed" in params and not self.random_seed.isChecked())
        # Without a seed every run of a batch makes the same maps: one run is all there is.
        self.batch.setEnabled("seed" in params)
        if "seed" not in params:
            self.batch.setValue(1)
        self.batch.setToolTip("" if "seed" in params else
                              "This workflow has no seed: every run gives the same maps")
        if "prompt" in params:
            # The example is real text the user sees being sent (a grey placeholder looked
            # filled in, and an empty prompt went out by accident).
            default, current = str(params["prompt"].default or ""), self.prompt.toPlainText()
            if not current.strip() or current == self._prompt_default:
                self.prompt.blockSignals(True)
                self.prompt.setPlainText(default)
                self.prompt.blockSignals(False)
            self._prompt_default = default
        self.texture_size.clear()
        size = params.get("texture_size")
        if size is not None:
            for choice in size.choices or (512, 1024, 2048, 4096):
                self.texture_size.addItem(f"{choice} px", choice)
            self.texture_size.setCurrentIndex(max(0, self.texture_size.findData(size.default)))
        else:
            self.texture_size.addItem("as the workflow makes it", None)
        self.texture_size.setEnabled(size is not None)
        self._show_pin()
        self._check_readiness()

    def _check_readiness(self) -> None:
        template, url = self.template, self.server_url
        if template is None or not url:
            return
        self._readiness_token += 1
        token = self._readiness_token
        if url == ALL_SERVERS:  # the engine refuses a workflow no server can run, naming why
            self._set_readiness(True, "runs on whichever server has its nodes and models")
            for server in self._pool:  # and the list says what each one lacks
                self.controller.workflow_readiness(
                    server, template, lambda r, u=server: self.pool_view.show_readiness(u, r))
            return
        self._set_readiness(None, "checking the server…")
        status = self.statuses.get(url)
        if status is not None and not status.reachable:
            self._set_readiness(False, "cannot check this workflow's nodes: the server is not "
                                       "reachable", status.message)
            return
        def arrived(result: Readiness) -> None:
            if token == self._readiness_token:
                self._set_readiness(result.ok, result.message)

        self.controller.workflow_readiness(url, template, arrived)

    def _set_readiness(self, ok: bool | None, text: str, details: str = "") -> None:
        color = {True: "#5cc98a", False: "#ff9f6b", None: "#8a8f9c"}[ok]
        mark = {True: "✓ ", False: "⚠ ", None: ""}[ok]
        if ok is False and "not reachable" in text and not details:
            text, details = "cannot check this workflow's nodes: the server is not reachable", text
        self.readiness.setText(mark + text)
        self.readiness.setToolTip(details or text)
        self.readiness.setStyleSheet(f"color: {color}; font-size: 11px;")

    # ------------------------------------------------------------------ inputs

    def set_mesh_path(self, path: Path | str | None) -> None:
        self.mesh_path.setText("" if path is None else str(path))

    def set_image_path(self, path: Path | str) -> None:
        self.image_path.setText(str(path))

    def _show_reference(self, text: str) -> None:
        """Decode a small thumbnail of the picked image off the Qt thread; none while unreadable."""
        self._thumb_token += 1
        token, path = self._thumb_token, Path(text.strip()).expanduser()

        def arrived(image: QImage | None) -> None:
            if token != self._thumb_token:
                return
            if image is None:
                self.image_thumb.clear()
                self.image_thumb.hide()
                return
            self.image_thumb.setPixmap(  # sharp on a 4K display too
                thumbnail_pixmap(image, REFERENCE_THUMB_PX, self.image_thumb.devicePixelRatioF()))
            self.image_thumb.setToolTip(str(path))
            self.image_thumb.show()

        if not text.strip():
            arrived(None)
            return
        size = REFERENCE_THUMB_PX * DECODE_SCALE
        self._runner.submit(lambda: thumbnail_of_file(path, size) if path.is_file()
                            else None, arrived, lambda exc: arrived(None))

    def _ask_mesh(self) -> None:
        patterns = " ".join(f"*{s}" for s in SUPPORTED_SUFFIXES)
        path = file_dialogs.open_file(self, "mesh", "Mesh to texture", f"Meshes ({patterns})")
        if path:
            self.set_mesh_path(path)

    def _ask_image(self) -> None:
        patterns = " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
        path = file_dialogs.open_file(self, "image", "Reference image", f"Images ({patterns})")
        if path:
            self.set_image_path(path)

    def build_request(self) -> GenerationRequest:
        """The request the form describes; raises AutomataError with what to fix."""
        template = self.template
        if template is None:
            raise AutomataError("Pick a workflow first.")
        params = template.parameters
        values: dict[str, Any] = {}
        if "prompt" in params and params["prompt"].required and not self.prompt.toPlainText().strip():
            raise AutomataError(f"'{template.title or template.name}' needs a prompt: describe "
                                "the material in “Prompt”.")
        if "prompt" in params and self.prompt.toPlainText().strip():
            values["prompt"] = self.prompt.toPlainText().strip()
        if "negative_prompt" in params and self.negative.toPlainText().strip():
            values["negative_prompt"] = self.negative.toPlainText().strip()
        if self.texture_size.isEnabled() and self.texture_size.currentData() is not None:
            values["texture_size"] = self.texture_size.currentData()
        image = self._existing(self.image_path.text(), "reference image") if "image" in params \
            else None
        mesh = self._existing(self.mesh_path.text(), "mesh") if "mesh" in params else None
        for name, kind, given in (("image", "reference image", image), ("mesh", "mesh", mesh)):
            if name in params and params[name].required and given is None:
                raise AutomataError(f"'{template.title or template.name}' needs a {kind}: "
                                    f"pick one with the … button beside “{name.capitalize()}”.")
        seed = None if self.random_seed.isChecked() or "seed" not in params else self.seed.value()
        pool = self._pool if self.server_url == ALL_SERVERS else ()
        server = pool[0] if pool else self.server_url
        return GenerationRequest(workflow=template, server=server, servers=pool,
                                 parameters=values, image=image, mesh=mesh,
                                 count=self.batch.value(), seed=seed)

    @staticmethod
    def _existing(text: str, what: str) -> Path | None:
        if not text.strip():
            return None
        path = Path(text.strip()).expanduser()
        if not path.is_file():
            raise AutomataError(f"The {what} {path} does not exist.")
        return path

    # ------------------------------------------------------------------ actions

    def submit(self) -> None:
        try:
            request = self.build_request()
        except AutomataError as exc:
            self.show_message(str(exc), "error")
            return
        self.send(request)

    def send(self, request: GenerationRequest) -> None:
        """Queue a request (also used by Retry and the library's Re-run)."""
        self.clear_message()
        self.generate.setEnabled(False)
        self.generate.setText("Sending…")
        self.controller.submit(request, self._submitted, self._refused)

    def _submitted(self, result: Submitted) -> None:
        self._sent()
        for gen in result.generations:
            self.queue.row(gen.id, self._row_title(gen.workflow, gen.server))
        if result.notice:
            self.show_message(result.notice, "info")

    def _refused(self, text: str) -> None:
        self._sent()
        self.show_message(text, "error")

    def _sent(self) -> None:
        self.generate.setEnabled(True)
        self.generate.setText("Generate")

    def cancel(self, generation_id: str) -> None:
        self.controller.cancel(generation_id,
                               lambda text: self._row_message(generation_id, text))

    def retry(self, generation_id: str) -> None:
        self.clear_message()
        self.controller.retry(generation_id, self._submitted,
                              lambda text: self._row_message(generation_id, text))

    def rerun(self, generation_id: str) -> None:
        """The library's Re-run: same request as the row records; problems show in the banner."""
        self.clear_message()
        self.controller.retry(generation_id, self._submitted, self._refused)

    def check_now(self, generation_id: str) -> None:
        def done(gen: Generation | None) -> None:
            if gen is None:
                self._row_message(generation_id, "This generation is no longer in the library.")
            elif not gen.status.is_final:
                self._row_message(generation_id, f"Checked: still {gen.status.value} on the server.")

        self.controller.check_now(generation_id, done,
                                  lambda text: self._row_message(generation_id, text))

    def _row_message(self, generation_id: str, text: str) -> None:
        row = self.queue.rows.get(generation_id)
        if row is not None:
            row.set_message(text)

    def _row_title(self, workflow: str, server: str) -> str:
        template = self.workflows.get(workflow)
        name = (template.title or template.name) if template else workflow
        return f"{name} · {server}" if server else name

    def _on_update(self, update: JobUpdate, preview: QImage | None) -> None:
        if update.generation_id not in self.queue.rows and update.workflow:
            # Also the first sight of a generation refused before its submit call returned.
            self.queue.row(update.generation_id, self._row_title(update.workflow, update.server))
        self.queue.apply(update, preview)

    def _thumbnail_from_files(self, gen: Generation) -> None:
        """The finished base colour replaces the last preview frame (or the empty box)."""
        row = self.queue.rows.get(gen.id)
        base = next((f.path for f in gen.files if f.kind is MapKind.BASE_COLOR), None)
        if row is not None and base is not None:
            self._runner.submit(lambda: thumbnail_of_file(base, PREVIEW_PX * 2),
                                lambda image: image is not None and row.set_preview(image),
                                lambda exc: None)

    # ------------------------------------------------------------------ messages

    def _clear_error(self) -> None:
        if self._message_level == "error":
            self.clear_message()

    def show_message(self, text: str, level: str = "error") -> None:
        self._message_level = level
        color = "#ff8a80" if level == "error" else "#e8c36a"
        self.message.setStyleSheet(
            f"color: {color}; background: #2a2024; border-radius: 4px; padding: 6px;"
            if level == "error" else
            f"color: {color}; background: #2a2820; border-radius: 4px; padding: 6px;")
        self.message.setText(text)
        self.message.show()
        self.message_shown.emit(level, text)

    def clear_message(self) -> None:
        self._message_level = ""
        self.message.clear()
        self.message.hide()
