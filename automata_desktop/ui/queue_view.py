"""The generation queue: one row per generation with its state, progress, live preview and actions."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from automata_desktop.core.generation import GenerationStatus
from automata_desktop.jobs.models import JobUpdate

PREVIEW_PX = 64
STATUS_COLORS = {
    GenerationStatus.QUEUED: "#8a8f9c",
    GenerationStatus.RUNNING: "#e8894a",
    GenerationStatus.COMPLETED: "#5cc98a",
    GenerationStatus.FAILED: "#ff6b6b",
    GenerationStatus.CANCELLED: "#8a8f9c",
    GenerationStatus.TIMED_OUT: "#ff6b6b",
}


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d} left" if seconds >= 60 else f"{seconds} s left"


class QueueRow(QWidget):
    cancel_clicked = Signal(str)
    retry_clicked = Signal(str)
    check_clicked = Signal(str)

    def __init__(self, generation_id: str, title: str = "") -> None:
        super().__init__()
        self.generation_id = generation_id
        self.status = GenerationStatus.QUEUED
        self.files: tuple = ()
        self.preview = QLabel()
        self.preview.setFixedSize(PREVIEW_PX, PREVIEW_PX)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setStyleSheet("background: #15171c; border-radius: 4px; color: #6b707c;")
        self.preview.setText("…")
        self.title = QLabel(title or generation_id[:8])
        self.title.setStyleSheet("font-weight: 600;")
        self.state = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFixedHeight(16)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #a9aebb; font-size: 11px;")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cancel = self._button("Cancel", self.cancel_clicked)
        self.retry = self._button("Retry", self.retry_clicked)
        self.check = self._button("Check now", self.check_clicked)
        self.check.setToolTip("Ask the server where this generation stands, now")

        grid = QGridLayout(self)
        grid.setContentsMargins(6, 6, 6, 6)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(3)
        grid.addWidget(self.preview, 0, 0, 4, 1, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.title, 0, 1)
        grid.addWidget(self.state, 0, 2, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.progress, 1, 1, 1, 2)
        grid.addWidget(self.message, 2, 1, 1, 2)
        buttons = QWidget()
        row = QGridLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        for column, button in enumerate((self.cancel, self.retry, self.check)):
            row.addWidget(button, 0, column)
        grid.addWidget(buttons, 3, 1, 1, 2)
        grid.setColumnStretch(1, 1)
        self._show_state(GenerationStatus.QUEUED)

    def _button(self, text: str, signal: Signal) -> QPushButton:
        button = QPushButton(text)
        button.setFixedHeight(22)
        button.clicked.connect(lambda: signal.emit(self.generation_id))
        return button

    def apply(self, update: JobUpdate, preview: QImage | None = None) -> None:
        self._show_state(update.status)
        fraction = 1.0 if update.status is GenerationStatus.COMPLETED else update.fraction
        self.progress.setValue(round(max(0.0, min(1.0, fraction)) * 1000))
        parts = [f"{fraction:.0%}"]
        if update.current_node and not update.status.is_final:
            parts.append(update.current_node)
        eta = format_eta(update.eta_s) if not update.status.is_final else ""
        if eta:
            parts.append(eta)
        self.progress.setFormat(" · ".join(parts))
        if update.message:
            self.message.setText(update.message)
        if update.files:
            self.files = update.files
        if preview is not None:
            self.set_preview(preview)

    def set_preview(self, image: QImage) -> None:
        pixmap = QPixmap.fromImage(image).scaled(
            PREVIEW_PX, PREVIEW_PX, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation)
        self.preview.setPixmap(pixmap)

    def set_message(self, text: str) -> None:
        self.message.setText(text)

    def _show_state(self, status: GenerationStatus) -> None:
        self.status = status
        self.state.setText(status.value.replace("_", " "))
        self.state.setStyleSheet(f"color: {STATUS_COLORS[status]}; font-weight: 600;")
        final = status.is_final
        self.cancel.setEnabled(not final)
        self.retry.setEnabled(final)
        self.check.setEnabled(status is not GenerationStatus.COMPLETED)


class QueueList(QWidget):
    """Newest generation on top; rows are created by whichever arrives first, update or submit."""

    cancel_clicked = Signal(str)
    retry_clicked = Signal(str)
    check_clicked = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.list = QListWidget()
        self.list.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.list.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.rows: dict[str, QueueRow] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)

    def row(self, generation_id: str, title: str = "") -> QueueRow:
        existing = self.rows.get(generation_id)
        if existing is not None:
            if title:
                existing.title.setText(title)
            return existing
        row = QueueRow(generation_id, title)
        row.cancel_clicked.connect(self.cancel_clicked)
        row.retry_clicked.connect(self.retry_clicked)
        row.check_clicked.connect(self.check_clicked)
        item = QListWidgetItem()
        item.setSizeHint(row.sizeHint())
        self.list.insertItem(0, item)
        self.list.setItemWidget(item, row)
        self.rows[generation_id] = row
        return row

    def apply(self, update: JobUpdate, preview: QImage | None) -> QueueRow:
        row = self.row(update.generation_id)
        row.apply(update, preview)
        return row
