"""The generation queue: one row per generation with its state, progress, live preview and actions.

Rows are laid out for a narrow dock (1024 px wide windows): the title and server elide, the
actions are compact tool buttons under the whole row, and each row's height follows its width.

The keyboard works the list as a job queue does: ↑/↓ (Home/End) pick a row, marked by an orange
edge; Delete cancels it while it runs or waits, R retries a finished one, Enter asks the server
now, Escape lets go of the row. Each key presses the row's own button, so a key does nothing its
button would not (a disabled Cancel stays disabled).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from automata_desktop.config import LOCAL_SERVER
from automata_desktop.core.generation import GenerationStatus
from automata_desktop.jobs.models import JobUpdate
from automata_desktop.ui.compact import ElidedLabel
from automata_desktop.ui.images import thumbnail_pixmap
from automata_desktop.ui.theme import ACCENT

PREVIEW_PX = 64
STATUS_COLORS = {
    GenerationStatus.QUEUED: "#8a8f9c",
    GenerationStatus.RUNNING: "#e8894a",
    GenerationStatus.COMPLETED: "#5cc98a",
    GenerationStatus.FAILED: "#ff6b6b",
    GenerationStatus.CANCELLED: "#8a8f9c",
    GenerationStatus.TIMED_OUT: "#ff6b6b",
}
#: Progress past which a row that received no live frame says so (the node sends none).
NO_PREVIEW_AFTER = 0.25
TITLE_SEPARATOR = " · "  # the generation panel titles rows "workflow · server"
KEYS_HELP = "Keys: ↑/↓ pick a row · Delete cancel · R retry · Enter check now · Esc let go"
#: The picked row: an edge in the accent colour and a lifted background (a full orange fill
#: would drown the row's own text and bar).
SELECTED_ROW_STYLE = ("QListWidget::item:selected { background: #2d313b;"
                      f" border-left: 3px solid {ACCENT}; }}")

# The ETA: no figure before the run has shown a pace, then smoothed over a few seconds so one
# fast node does not promise "2 s left" and one slow node does not freeze the figure.
ETA_MIN_FRACTION = 0.05
ETA_MIN_ELAPSED_S = 2.0
ETA_SMOOTHING_S = 2.0
ETA_TICK_MS = 1000


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d} left" if seconds >= 60 else f"{seconds} s left"


def server_text(server: str) -> str:
    """What a row shows of its server: host:port of a URL (its path and scheme say nothing)."""
    if server == LOCAL_SERVER:
        return "in-process"
    parts = urlsplit(server)
    return parts.netloc or server


@dataclass
class EtaEstimate:
    """Time left from the pace the row has watched: after `t` s from fraction f0 to f, the rest
    takes about t·(1-f)/(f-f0). Re-estimated on every tick, not only on updates: between two
    updates time passes, and an ETA frozen at the last update is the "7 s left" at 25 % after
    16 s. Smoothed with a time constant, projecting the previous estimate forward by the time
    that has passed, so a steady run's estimate is exact and a jump fades in."""

    started_at: float | None = None
    start_fraction: float = 0.0
    fraction: float = 0.0
    remaining_s: float | None = None
    _estimated_at: float = 0.0

    def update(self, fraction: float, now: float) -> float | None:
        if self.started_at is None:
            self.started_at, self.start_fraction = now, fraction
        self.fraction = fraction
        return self.tick(now)

    def tick(self, now: float) -> float | None:
        if self.started_at is None:
            return None
        elapsed, progressed = now - self.started_at, self.fraction - self.start_fraction
        if progressed < ETA_MIN_FRACTION or elapsed < ETA_MIN_ELAPSED_S:
            self.remaining_s = None
            return None
        raw = elapsed * (1.0 - self.fraction) / progressed
        if self.remaining_s is None:
            self.remaining_s = raw
        else:
            projected = max(0.0, self.remaining_s - (now - self._estimated_at))
            weight = 1.0 - math.exp(-(now - self._estimated_at) / ETA_SMOOTHING_S)
            self.remaining_s = projected + weight * (raw - projected)
        self._estimated_at = now
        return self.remaining_s


class QueueRow(QWidget):
    cancel_clicked = Signal(str)
    retry_clicked = Signal(str)
    check_clicked = Signal(str)
    height_changed = Signal()

    def __init__(self, generation_id: str, title: str = "") -> None:
        super().__init__()
        self.generation_id = generation_id
        self.status = GenerationStatus.QUEUED
        self.files: tuple = ()
        self.fraction = 0.0
        self.current_node: str | None = None
        self.eta = EtaEstimate()
        self.preview = QLabel()
        self.preview.setFixedSize(PREVIEW_PX, PREVIEW_PX)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setWordWrap(True)
        self.preview.setStyleSheet("background: #15171c; border-radius: 4px; color: #6b707c;"
                                   "font-size: 10px;")
        self.preview.setText("…")
        self._has_preview = False
        self.title = ElidedLabel()
        self.title.setStyleSheet("font-weight: 600;")
        self.server = ElidedLabel(mode=Qt.TextElideMode.ElideMiddle)
        self.server.setStyleSheet("color: #8a8f9c; font-size: 11px;")
        self.state = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFixedHeight(16)
        self.progress.setMinimumWidth(40)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #a9aebb; font-size: 11px;")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # A long unbroken word (a path) must wrap inside the row, not widen it.
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.cancel = self._button("Cancel", self.cancel_clicked, "Stop this generation (Delete)")
        self.retry = self._button("Retry", self.retry_clicked,
                                  "Generate again with the same request (R)")
        self.check = self._button("Check now", self.check_clicked,
                                  "Ask the server where this generation stands, now (Enter)")
        self.set_title(title or generation_id[:8])

        grid = QGridLayout(self)
        grid.setContentsMargins(6, 6, 6, 6)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(3)
        grid.addWidget(self.preview, 0, 0, 4, 1, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.title, 0, 1)
        grid.addWidget(self.state, 0, 2, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.server, 1, 1, 1, 2)
        grid.addWidget(self.progress, 2, 1, 1, 2)
        grid.addWidget(self.message, 3, 1, 1, 2)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.setSpacing(4)
        for button in (self.cancel, self.retry, self.check):
            buttons.addWidget(button)
        buttons.addStretch(1)
        grid.addLayout(buttons, 4, 0, 1, 3)  # under the preview too: the width a narrow dock has
        grid.setColumnStretch(1, 1)
        self._show_state(GenerationStatus.QUEUED)

    def _button(self, text: str, signal: Signal, tip: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        button.clicked.connect(lambda: signal.emit(self.generation_id))
        return button

    def set_title(self, title: str) -> None:
        """`title` as the panel makes it ("workflow · server"): the server gets its own line,
        shortened to host:port, with the full address in the tooltip."""
        name, _, server = title.rpartition(TITLE_SEPARATOR)
        if not name:
            name, server = title, ""
        self.title.setText(name)
        self.set_server(server)

    def set_server(self, server: str) -> None:
        if not server:
            return
        self.server.setText(server_text(server))
        self.server.setToolTip(server)

    def apply(self, update: JobUpdate, preview: QImage | None = None) -> None:
        if update.server != self.server.toolTip():  # a pool's generation moves between servers
            if update.server:
                self.set_server(update.server)
            elif update.status is GenerationStatus.QUEUED:
                self.server.setText("waiting for a server")
                self.server.setToolTip("")
        self._show_state(update.status)
        self.fraction = max(0.0, min(1.0, update.fraction))
        self.current_node = update.current_node
        # The clock starts with the work: a ComfyUI's node events can precede "running" (the row
        # is written first); a prompt waiting behind others on the server is not yet working.
        if not update.status.is_final and (update.status is GenerationStatus.RUNNING
                                           or self.fraction > 0):
            self.eta.update(self.fraction, time.monotonic())
        if update.message:
            self.set_message(update.message)
        if update.files:
            self.files = update.files
        if preview is not None:
            self.set_preview(preview)
        self._show_progress()

    def tick(self, now: float | None = None) -> None:
        """Time passed without an update: the ETA moves on (see EtaEstimate)."""
        if not self.status.is_final:
            self.eta.tick(time.monotonic() if now is None else now)
            self._show_progress()

    def _show_progress(self) -> None:
        status = self.status
        if status is GenerationStatus.COMPLETED:
            self.progress.setValue(1000)
            self.progress.setFormat("done")
        elif status.is_final:
            # Settled: a full bar in the state's colour (grey, red), where it stopped in words.
            # A half bar in the running orange read as "still going".
            self.progress.setValue(1000)
            word = status.value.replace("_", " ")
            self.progress.setFormat(f"{word} at {self.fraction:.0%}" if self.fraction else word)
        else:
            self.progress.setValue(round(self.fraction * 1000))
            parts = [f"{self.fraction:.0%}"]
            if self.current_node:
                parts.append(self.current_node)
            eta = format_eta(self.eta.remaining_s)
            if eta:
                parts.append(eta)
            text = " · ".join(parts)
            # In a narrow dock the node's name goes to the tooltip: text wider than the bar
            # wraps over itself in Qt's styles.
            if self.current_node and (self.progress.fontMetrics().horizontalAdvance(text)
                                      > self.progress.width() - 8):
                text = " · ".join(p for p in parts if p != self.current_node)
            self.progress.setFormat(text)
            self.progress.setToolTip(self.current_node or "")
        if not self._has_preview and (status.is_final or self.fraction >= NO_PREVIEW_AFTER):
            self.preview.setText("no preview")
            self.preview.setToolTip("This workflow sends no live preview frames")

    def set_preview(self, image: QImage) -> None:
        pixmap = thumbnail_pixmap(image, PREVIEW_PX, self.preview.devicePixelRatioF())
        self._has_preview = True
        self.preview.setToolTip("")
        self.preview.setPixmap(pixmap)

    def set_message(self, text: str) -> None:
        if text != self.message.text():
            self.message.setText(text)
            self.height_changed.emit()

    def _show_state(self, status: GenerationStatus) -> None:
        self.status = status
        self.state.setText(status.value.replace("_", " "))
        color = STATUS_COLORS[status]
        self.state.setStyleSheet(f"color: {color}; font-weight: 600;")
        palette = self.progress.palette()
        palette.setColor(QPalette.ColorRole.Highlight, QColor(color))
        self.progress.setPalette(palette)
        final = status.is_final
        self.cancel.setEnabled(not final)
        self.retry.setEnabled(final)
        self.check.setEnabled(not final)  # a final row is settled: nothing left to ask

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self.height_changed.emit()  # the message wraps to a new number of lines


class QueueList(QWidget):
    """Newest generation on top; rows are created by whichever arrives first, update or submit."""

    cancel_clicked = Signal(str)
    retry_clicked = Signal(str)
    check_clicked = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.list = QListWidget()
        self.list.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        self.list.setStyleSheet(SELECTED_ROW_STYLE)
        self.list.setToolTip(KEYS_HELP)
        self.list.installEventFilter(self)
        self.list.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        # Rows take the list's width and never more: a row wider than the dock hides its buttons.
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.rows: dict[str, QueueRow] = {}
        self._items: dict[str, QListWidgetItem] = {}
        self.clear_button = QToolButton()
        self.clear_button.setText("Clear finished")
        self.clear_button.setToolTip("Remove the completed, failed and cancelled rows "
                                     "(the library keeps them)")
        self.clear_button.clicked.connect(self.clear_finished)
        self.summary = QLabel()
        self.summary.setStyleSheet("color: #8a8f9c; font-size: 11px;")
        self.summary.setToolTip(KEYS_HELP)
        header = QHBoxLayout()
        header.setContentsMargins(2, 0, 2, 0)
        header.addWidget(self.summary, 1)
        header.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.list)
        self._ticker = QTimer(self)
        self._ticker.setInterval(ETA_TICK_MS)
        self._ticker.timeout.connect(self._tick)
        self._update_header()

    def row(self, generation_id: str, title: str = "") -> QueueRow:
        existing = self.rows.get(generation_id)
        if existing is not None:
            if title:
                existing.set_title(title)
            return existing
        row = QueueRow(generation_id, title)
        row.cancel_clicked.connect(self.cancel_clicked)
        row.retry_clicked.connect(self.retry_clicked)
        row.check_clicked.connect(self.check_clicked)
        item = QListWidgetItem()
        item.setData(Qt.ItemDataRole.UserRole, generation_id)
        self.list.insertItem(0, item)
        self.list.setItemWidget(item, row)
        self.rows[generation_id] = row
        self._items[generation_id] = item
        row.height_changed.connect(lambda: self._fit(generation_id))
        self._fit(generation_id)
        self._update_header()
        return row

    def apply(self, update: JobUpdate, preview: QImage | None) -> QueueRow:
        row = self.row(update.generation_id)
        row.apply(update, preview)
        self._update_header()
        return row

    def selected_row(self) -> QueueRow | None:
        """The row the keyboard (or a click) picked, if any."""
        item = self.list.currentItem()
        if item is None or not item.isSelected():
            return None
        return self.rows.get(item.data(Qt.ItemDataRole.UserRole))

    def select(self, generation_id: str) -> None:
        item = self._items.get(generation_id)
        if item is not None:
            self.list.setCurrentItem(item)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.list and isinstance(event, QKeyEvent) \
                and event.type() is QEvent.Type.KeyPress:
            return self._key(event)
        return super().eventFilter(watched, event)

    def _key(self, event: QKeyEvent) -> bool:
        """The row's keys (see the module docstring); True when the key was one of them."""
        if event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            return False  # Ctrl+…, Alt+…: the window's shortcuts
        key = event.key()
        if key == Qt.Key.Key_Escape and self.list.currentItem() is not None:
            self.list.setCurrentItem(None)
            return True
        row = self.selected_row()
        button = None if row is None else {
            Qt.Key.Key_Delete: row.cancel, Qt.Key.Key_Backspace: row.cancel,
            Qt.Key.Key_R: row.retry, Qt.Key.Key_Return: row.check, Qt.Key.Key_Enter: row.check,
        }.get(Qt.Key(key))
        if button is None:
            return False
        button.click()  # a disabled button ignores it, as it ignores the mouse
        return True

    def clear_finished(self) -> None:
        """Drop the rows that reached a final state; queued and running ones stay."""
        for generation_id in [g for g, row in self.rows.items() if row.status.is_final]:
            row = self.rows.pop(generation_id)
            item = self._items.pop(generation_id)
            self.list.takeItem(self.list.row(item))
            row.deleteLater()
        self._update_header()

    def _fit(self, generation_id: str) -> None:
        """Give the row's item the height its layout needs at the list's width."""
        row, item = self.rows.get(generation_id), self._items.get(generation_id)
        if row is None or item is None:
            return
        width = self.list.viewport().width()
        layout = row.layout()
        height = layout.heightForWidth(width) if layout.hasHeightForWidth() else -1
        item.setSizeHint(QSize(0, max(height, row.minimumSizeHint().height())))

    def _update_header(self) -> None:
        active = sum(not row.status.is_final for row in self.rows.values())
        finished = len(self.rows) - active
        self.summary.setText(f"{active} running or queued" if self.rows else "No generations yet")
        self.clear_button.setEnabled(finished > 0)
        if active and not self._ticker.isActive():
            self._ticker.start()
        elif not active:
            self._ticker.stop()

    def _tick(self) -> None:
        now = time.monotonic()
        for row in self.rows.values():
            row.tick(now)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        for generation_id in self.rows:
            self._fit(generation_id)
