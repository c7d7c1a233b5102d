"""Small widgets for narrow docks: controls that leave the scroll wheel to the scroll area, and
labels that elide instead of widening their dock.

An artist scrolls a panel of sliders with the wheel; a slider that takes each notch as an edit
changes the material under the pointer (Metallic went from 1.00 to 0.55 while scrolling). So a
value control reacts to the wheel only once it has focus (clicked or tabbed to), as in Blender.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFormLayout,
    QLabel,
    QScrollBar,
    QWidget,
)

WHEEL_GUARDED = (QAbstractSlider, QAbstractSpinBox, QComboBox)


class WheelGuard(QObject):
    """An event filter: a wheel over an unfocused value control scrolls the enclosing scroll
    area instead. Handed to the area explicitly: Qt passes an ignored wheel event on to the
    parents only when it came from the window system, not when sent by code (tests, tools)."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if not isinstance(event, QWheelEvent) or not isinstance(watched, QWidget) \
                or watched.hasFocus():
            return False
        area = _scroll_area_around(watched)
        if area is None:
            event.ignore()  # no area to scroll: the parents may have a use for it
            return True
        viewport = area.viewport()
        forwarded = QWheelEvent(
            QPointF(viewport.mapFromGlobal(event.globalPosition().toPoint())),
            event.globalPosition(), event.pixelDelta(), event.angleDelta(), event.buttons(),
            event.modifiers(), event.phase(), event.inverted())
        QApplication.sendEvent(viewport, forwarded)
        return True


def _scroll_area_around(widget: QWidget) -> QAbstractScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QAbstractScrollArea):
        parent = parent.parentWidget()
    return parent


def guard_wheel(root: QWidget) -> WheelGuard:
    """Guard every slider, spin box and combo under `root` (call once its children exist).

    Strong focus (click or tab, not wheel) so that the wheel cannot give them focus either.
    """
    guard = WheelGuard(root)
    for widget in root.findChildren(QWidget):
        # Scroll bars are sliders too, but the wheel is theirs (a scroll area hands it to them).
        if isinstance(widget, WHEEL_GUARDED) and not isinstance(widget, QScrollBar):
            widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            widget.installEventFilter(guard)
    return guard


class ElidedLabel(QLabel):
    """A one-line label that shows what fits, elided (in the middle for addresses), and keeps
    the whole text in its tooltip. Its minimum width is small, so it never widens a dock."""

    def __init__(self, text: str = "", mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._mode = mode
        self._full = ""
        self.setText(text)

    def setText(self, text: str) -> None:
        self._full = text
        super().setText(text)
        self.setToolTip(text)  # callers with a better tooltip set it after the text

    def full_text(self) -> str:
        return self._full

    def shown_text(self) -> str:
        """The text as drawn at the current width."""
        return self.fontMetrics().elidedText(self._full, self._mode, self.contentsRect().width())

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self.fontMetrics().horizontalAdvance("…") * 4),
                     hint.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(self.contentsRect(), int(self.alignment()), self.shown_text())


def compact_form(box: QWidget) -> QFormLayout:
    """A form whose label goes above its field when both do not fit side by side."""
    form = QFormLayout(box)
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return form
